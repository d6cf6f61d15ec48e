//! ISAPI `EventNotificationAlert` pushes: an ANPR read as multipart (`anpr.xml` with the
//! plate and detection pictures) or a bare XML alert (heartbeats, other events).
//!
//! Namespaces vary by firmware (`hikvision.com/ver20`, `isapi.org/ver20`, none, prefixed),
//! so elements are matched by local name. The heartbeat of the alertStream is a `videoloss`
//! alert in state `inactive`; some firmwares push `heartBeat` events in listening mode.

use kezek_device_sdk::multipart::{self, Part};
use kezek_device_sdk::xml::Element;
use kezek_device_sdk::{Direction, Picture, PictureKind};

/// One ANPR read as the camera reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Anpr {
    pub channel: u16,
    /// The camera's count of this alert's posts; a re-send repeats it.
    pub post_count: Option<u32>,
    pub date_time: Option<String>,
    pub plate: String,
    /// 0.0 ..= 1.0; a firmware that gives none reads as 0 (never confident).
    pub confidence: f32,
    pub direction: Direction,
    pub pictures: Vec<Picture>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    Anpr(Anpr),
    /// An ANPR event without a plate (the camera saw a vehicle, read nothing).
    Unread,
    Heartbeat,
    /// Any other event: the camera is alive, nothing to report.
    Other,
}

/// Reads one push by its content type.
pub fn parse_push(content_type: &str, body: &[u8]) -> Result<Alert, String> {
    let Some(boundary) = multipart::boundary(content_type) else {
        return parse_xml(utf8(body)?, Vec::new());
    };
    let parts = multipart::split(body, boundary)?;
    let xml = parts
        .iter()
        .find(|p| is_xml(p))
        .ok_or("the push has no XML part")?;
    let pictures = parts
        .iter()
        .filter(|p| p.content_type().is_some_and(|t| t.starts_with("image/")))
        .map(|p| Picture {
            kind: if p
                .name()
                .is_some_and(|n| n.to_ascii_lowercase().contains("plate"))
            {
                PictureKind::Plate
            } else {
                PictureKind::Vehicle
            },
            content_type: p.content_type().unwrap_or_default(),
            data: p.body.clone(),
        })
        .collect();
    parse_xml(utf8(&xml.body)?, pictures)
}

fn is_xml(part: &Part) -> bool {
    part.content_type().is_some_and(|t| t.ends_with("/xml"))
        || part
            .name()
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".xml"))
}

fn utf8(body: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(body).map_err(|_| "the alert XML is not UTF-8".to_string())
}

fn parse_xml(text: &str, pictures: Vec<Picture>) -> Result<Alert, String> {
    let root = Element::parse(text)?;
    if root.name != "EventNotificationAlert" {
        return Err(format!("<{}> is not an EventNotificationAlert", root.name));
    }
    let event_type = root.required("eventType")?;
    let state = root.text_of("eventState").unwrap_or("active");
    if event_type.eq_ignore_ascii_case("heartBeat")
        || (event_type.eq_ignore_ascii_case("videoloss") && state.eq_ignore_ascii_case("inactive"))
    {
        return Ok(Alert::Heartbeat);
    }
    if !event_type.eq_ignore_ascii_case("ANPR") {
        return Ok(Alert::Other);
    }
    let anpr = root.child("ANPR").ok_or("an ANPR alert has no <ANPR>")?;
    let plate = anpr.text_of("licensePlate").unwrap_or("");
    if plate.is_empty() || plate.eq_ignore_ascii_case("unknown") {
        return Ok(Alert::Unread);
    }
    let number = |name: &str| -> Result<Option<u32>, String> {
        root.text_of(name)
            .or_else(|| anpr.text_of(name))
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("<{name}> {v:?} is not a number"))
            })
            .transpose()
    };
    let channel = number("channelID")?
        .or(number("dynChannelID")?)
        .unwrap_or(1);
    let confidence = match anpr.text_of("confidenceLevel") {
        None => 0.0,
        Some(v) => match v.parse::<f32>() {
            Ok(c) if (0.0..=100.0).contains(&c) => c / 100.0,
            _ => return Err(format!("<confidenceLevel> {v:?} is not 0..=100")),
        },
    };
    Ok(Alert::Anpr(Anpr {
        channel: u16::try_from(channel).map_err(|_| format!("channel {channel} out of range"))?,
        post_count: number("activePostCount")?,
        date_time: root.text_of("dateTime").map(String::from),
        plate: plate.to_string(),
        confidence,
        direction: match anpr.text_of("direction") {
            Some("forward") => Direction::Approaching,
            Some("reverse") => Direction::Leaving,
            _ => Direction::Unknown,
        },
        pictures,
    }))
}

#[cfg(test)]
pub(crate) mod samples {
    //! Alerts as firmwares write them. Dates come from the running clock: no fixed dates.

    /// The camera's local time now, as ISAPI writes it (Kazakhstan, UTC+5).
    pub fn camera_time() -> String {
        let offset = time::UtcOffset::from_hms(5, 0, 0).expect("UTC+5 is an offset");
        time::OffsetDateTime::now_utc()
            .to_offset(offset)
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a camera time formats")
    }

    /// An ANPR alert; `ns` is the root's namespace declaration ("" for none), `p` the prefix
    /// every element carries ("" or "isapi:").
    pub fn anpr(ns: &str, p: &str, plate: &str, post_count: u32, when: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<{p}EventNotificationAlert version="2.0" {ns}>
<{p}ipAddress>10.20.0.64</{p}ipAddress>
<{p}portNo>80</{p}portNo>
<{p}protocol>HTTP</{p}protocol>
<{p}macAddress>44:19:b6:6d:24:85</{p}macAddress>
<{p}channelID>1</{p}channelID>
<{p}dateTime>{when}</{p}dateTime>
<{p}activePostCount>{post_count}</{p}activePostCount>
<{p}eventType>ANPR</{p}eventType>
<{p}eventState>active</{p}eventState>
<{p}eventDescription>ANPR</{p}eventDescription>
<{p}channelName>Entry lane 1</{p}channelName>
<{p}ANPR>
<{p}country>3</{p}country>
<{p}licensePlate>{plate}</{p}licensePlate>
<{p}line>1</{p}line>
<{p}direction>forward</{p}direction>
<{p}confidenceLevel>93</{p}confidenceLevel>
<{p}plateType>unknown</{p}plateType>
<{p}plateColor>white</{p}plateColor>
<{p}vehicleType>truck</{p}vehicleType>
<{p}pictureInfoList>
<{p}pictureInfo><{p}fileName>licensePlatePicture.jpg</{p}fileName><{p}type>licensePlatePicture</{p}type></{p}pictureInfo>
<{p}pictureInfo><{p}fileName>detectionPicture.jpg</{p}fileName><{p}type>detectionPicture</{p}type></{p}pictureInfo>
</{p}pictureInfoList>
</{p}ANPR>
<{p}UUID>2f3c0b7e-1f2a-4d55-9e47-3f6d2b1c0a99</{p}UUID>
<{p}picNum>2</{p}picNum>
</{p}EventNotificationAlert>"#
        )
    }

    /// The alertStream heartbeat.
    pub fn heartbeat(when: &str) -> String {
        format!(
            r#"<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>10.20.0.64</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>
<channelID>1</channelID><dateTime>{when}</dateTime><activePostCount>0</activePostCount>
<eventType>videoloss</eventType><eventState>inactive</eventState>
<eventDescription>videoloss alarm</eventDescription></EventNotificationAlert>"#
        )
    }

    /// A JPEG-looking picture that contains the multipart boundary.
    pub fn jpeg(boundary: &str) -> Vec<u8> {
        let mut data = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        data.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
        );
        data.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
        data
    }

    /// A listening-mode push: the XML and both pictures, each part with its length.
    pub fn push(boundary: &str, xml: &str, plate: &[u8], detection: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, kind, data) in [
            ("anpr.xml", "application/xml", xml.as_bytes()),
            ("licensePlatePicture.jpg", "image/jpeg", plate),
            ("detectionPicture.jpg", "image/jpeg", detection),
        ] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                    data.len()
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    const HIK: &str = r#"xmlns="http://www.hikvision.com/ver20/XMLSchema""#;
    const ISAPI: &str = r#"xmlns:isapi="http://www.isapi.org/ver20/XMLSchema""#;

    /// Issue 13: namespaces vary by firmware; local names match in every spelling.
    #[test]
    fn alerts_with_and_without_namespaces() {
        let when = camera_time();
        for (ns, prefix) in [(HIK, ""), ("", ""), (ISAPI, "isapi:")] {
            let xml = anpr(ns, prefix, "123ABC02", 7, &when);
            let Alert::Anpr(read) = parse_push("application/xml", xml.as_bytes()).unwrap() else {
                panic!("{ns}: not a read");
            };
            assert_eq!(read.plate, "123ABC02", "{ns}");
            assert_eq!(read.channel, 1);
            assert_eq!(read.post_count, Some(7));
            assert_eq!(read.date_time.as_deref(), Some(when.as_str()));
            assert!((read.confidence - 0.93).abs() < 1e-6);
            assert_eq!(read.direction, Direction::Approaching);
            assert!(read.pictures.is_empty());
        }
    }

    /// Issue 13: a multipart push, split by Content-Length although the JPEG contains the
    /// boundary; the pictures keep their kinds.
    #[test]
    fn multipart_push_with_pictures() {
        let b = "MIME_boundary";
        let xml = anpr(HIK, "", "777ZZZ02", 1, &camera_time());
        let body = push(b, &xml, &jpeg(b), &jpeg("other"));
        let Alert::Anpr(read) =
            parse_push(&format!("multipart/form-data; boundary={b}"), &body).unwrap()
        else {
            panic!("not a read");
        };
        assert_eq!(read.plate, "777ZZZ02");
        assert_eq!(read.pictures.len(), 2);
        assert_eq!(read.pictures[0].kind, PictureKind::Plate);
        assert_eq!(read.pictures[0].data, jpeg(b));
        assert_eq!(read.pictures[1].kind, PictureKind::Vehicle);
        assert_eq!(read.pictures[1].content_type, "image/jpeg");
    }

    #[test]
    fn heartbeats_unread_plates_and_other_events() {
        let when = camera_time();
        assert_eq!(
            parse_push("text/xml", heartbeat(&when).as_bytes()),
            Ok(Alert::Heartbeat)
        );
        let beat = heartbeat(&when)
            .replace("videoloss", "heartBeat")
            .replace("inactive", "active");
        assert_eq!(
            parse_push("text/xml", beat.as_bytes()),
            Ok(Alert::Heartbeat)
        );
        let loss = heartbeat(&when).replace("inactive", "active");
        assert_eq!(parse_push("text/xml", loss.as_bytes()), Ok(Alert::Other));
        let unread = anpr(HIK, "", "unknown", 2, &when);
        assert_eq!(
            parse_push("application/xml", unread.as_bytes()),
            Ok(Alert::Unread)
        );
    }

    #[test]
    fn broken_pushes_are_errors() {
        let when = camera_time();
        fn check(content_type: &str, body: &[u8], want: &str) {
            let e = parse_push(content_type, body).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        let xml = anpr(HIK, "", "123ABC02", 1, &when);
        check(
            "application/xml",
            b"<EventNotificationAlert>",
            "ends inside",
        );
        check(
            "application/xml",
            b"<ResponseStatus/>",
            "not an EventNotificationAlert",
        );
        check(
            "application/xml",
            b"<EventNotificationAlert/>",
            "no <eventType>",
        );
        check("application/xml", &[0xFF, 0xFE], "not UTF-8");
        check(
            "application/xml",
            xml.replace("93<", "930<").as_bytes(),
            "confidenceLevel",
        );
        check(
            "application/xml",
            xml.replace("<activePostCount>1<", "<activePostCount>x<")
                .as_bytes(),
            "activePostCount",
        );
        let no_xml = String::from_utf8(push("b", "", &[1], &[2]))
            .unwrap()
            .replace("application/xml", "text/plain")
            .replace("anpr.xml", "anpr.txt");
        check(
            "multipart/form-data; boundary=b",
            no_xml.as_bytes(),
            "no XML part",
        );
        let body = push("b", &xml, &jpeg("b"), &[1]);
        check(
            "multipart/form-data; boundary=b",
            &body[..body.len() - 40],
            "ends inside a part",
        );
    }
}
