//! The state blob a driver hands the host and gets back on the next call.
//!
//! A fixed little-endian layout behind a version byte: small, no serde in the component,
//! and a blob of another layout (an older driver's, or garbage) is refused as `bad-state`,
//! which makes the host configure the device afresh (wit/device@1.0.0).

use crate::DeviceError;

/// Writes a state blob field by field.
#[derive(Debug)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// Starts a blob of this layout version.
    pub fn new(version: u8) -> Writer {
        Writer(vec![version])
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).expect("a state field is far below 4 GiB");
        self.u32(len);
        self.0.extend_from_slice(v);
        self
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Reads a blob written by [`Writer`]; every shortfall is `bad-state`.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Opens a blob, refusing one of another layout version.
    pub fn new(buf: &'a [u8], version: u8) -> Result<Reader<'a>, DeviceError> {
        match buf.first() {
            Some(&v) if v == version => Ok(Reader { buf, pos: 1 }),
            Some(&v) => Err(DeviceError::BadState(format!(
                "state layout {v}, this driver writes {version}"
            ))),
            None => Err(DeviceError::BadState("empty state".into())),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DeviceError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| DeviceError::BadState("state ends early".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DeviceError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    pub fn u8(&mut self) -> Result<u8, DeviceError> {
        Ok(self.take(1)?[0])
    }

    pub fn bool(&mut self) -> Result<bool, DeviceError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DeviceError::BadState(format!("{other} is not a boolean"))),
        }
    }

    pub fn u16(&mut self) -> Result<u16, DeviceError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DeviceError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DeviceError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DeviceError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub fn str(&mut self) -> Result<&'a str, DeviceError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| DeviceError::BadState("a text field is not UTF-8".into()))
    }

    /// Refuses trailing bytes: a blob longer than its layout is not this layout.
    pub fn end(self) -> Result<(), DeviceError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DeviceError::BadState("state has trailing bytes".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let blob = Writer::new(3)
            .u8(7)
            .bool(true)
            .u16(0xBEEF)
            .u32(70_000)
            .u64(1 << 40)
            .bytes(&[1, 2, 3])
            .str("loop")
            .finish();
        let mut r = Reader::new(&blob, 3).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.bool().unwrap());
        assert_eq!(r.u16().unwrap(), 0xBEEF);
        assert_eq!(r.u32().unwrap(), 70_000);
        assert_eq!(r.u64().unwrap(), 1 << 40);
        assert_eq!(r.bytes().unwrap(), &[1, 2, 3]);
        assert_eq!(r.str().unwrap(), "loop");
        r.end().unwrap();
    }

    /// A blob this layout did not write makes the host configure afresh (device.wit).
    #[test]
    fn foreign_blobs_are_bad_state() {
        fn check(blob: &[u8], read: fn(&mut Reader) -> Result<(), DeviceError>) {
            let outcome = Reader::new(blob, 1).and_then(|mut r| {
                read(&mut r)?;
                r.end()
            });
            assert!(
                matches!(outcome, Err(DeviceError::BadState(_))),
                "{blob:?}: {outcome:?}"
            );
        }
        check(&[], |_| Ok(()));
        check(&[2], |_| Ok(()));
        check(&[1, 5], |_| Ok(()));
        check(&[1, 0], |r| r.u16().map(drop));
        check(&[1, 2], |r| r.bool().map(drop));
        check(&[1, 9, 0, 0, 0, 1], |r| r.bytes().map(drop));
        check(&[1, 1, 0, 0, 0, 0xFF], |r| r.str().map(drop));
    }
}
