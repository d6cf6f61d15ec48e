//! A Hikvision ANPR camera in listening mode: it pushes ISAPI `EventNotificationAlert`s to
//! the host as multipart (`anpr.xml`, `licensePlatePicture.jpg`, `detectionPicture.jpg`,
//! each part with its Content-Length), counts its posts in `activePostCount`, re-sends an
//! alert with the same count, and sends the alertStream heartbeat. Its pictures contain the
//! multipart boundary on purpose: a driver must split by Content-Length (issue 13).

use std::io;
use std::net::SocketAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::offset;

use super::http_exchange;

pub const BOUNDARY: &str = "MIME_boundary";

/// One read the camera reports.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub plate: String,
    /// 0..=100.
    pub confidence: u8,
    /// "forward" (approaching) or "reverse" (leaving).
    pub direction: &'static str,
    pub when: OffsetDateTime,
}

/// A camera pushing to one host listener.
#[derive(Debug)]
pub struct CameraMock {
    target: SocketAddr,
    path: String,
    post_count: u32,
}

impl CameraMock {
    pub fn new(target: SocketAddr, path: &str) -> CameraMock {
        CameraMock {
            target,
            path: path.to_string(),
            post_count: 0,
        }
    }

    /// Pushes a new read; the HTTP status the host answered.
    pub async fn read_plate(&mut self, sighting: &Sighting) -> io::Result<u16> {
        self.post_count += 1;
        self.resend(sighting).await
    }

    /// Pushes the last read again with the same `activePostCount`, as a camera does when it
    /// thinks a post was lost.
    pub async fn resend(&self, sighting: &Sighting) -> io::Result<u16> {
        let body = anpr_push(sighting, self.post_count);
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let (status, _) =
            http_exchange(self.target, "POST", &self.path, &content_type, &body).await?;
        Ok(status)
    }

    /// The alertStream heartbeat (`videoloss`, `inactive`), as bare XML.
    pub async fn heartbeat(&self, when: OffsetDateTime) -> io::Result<u16> {
        let xml = alert(&camera_time(when), 0, "videoloss", "inactive", "");
        let (status, _) = http_exchange(
            self.target,
            "POST",
            &self.path,
            "application/xml",
            xml.as_bytes(),
        )
        .await?;
        Ok(status)
    }
}

/// The camera's clock: Kazakhstan's local time, as ISAPI writes it.
fn camera_time(when: OffsetDateTime) -> String {
    when.to_offset(offset!(+5))
        .format(&Rfc3339)
        .expect("a camera time formats")
}

fn alert(when: &str, post_count: u32, event: &str, state: &str, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>127.0.0.1</ipAddress>
<portNo>80</portNo>
<protocol>HTTP</protocol>
<macAddress>44:19:b6:00:00:01</macAddress>
<channelID>1</channelID>
<dateTime>{when}</dateTime>
<activePostCount>{post_count}</activePostCount>
<eventType>{event}</eventType>
<eventState>{state}</eventState>
<eventDescription>{event}</eventDescription>{inner}
</EventNotificationAlert>"#
    )
}

/// A JPEG-looking picture with the boundary inside.
pub fn picture(label: &str) -> Vec<u8> {
    let mut data = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    data.extend_from_slice(
        format!("{label}\r\n--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
    );
    data.extend_from_slice(&[0xFF, 0xD9]);
    data
}

/// The multipart body of one ANPR push.
pub fn anpr_push(sighting: &Sighting, post_count: u32) -> Vec<u8> {
    let inner = format!(
        "\n<ANPR>\n<licensePlate>{}</licensePlate>\n<line>1</line>\n<direction>{}</direction>\n<confidenceLevel>{}</confidenceLevel>\n<vehicleType>truck</vehicleType>\n</ANPR>\n<picNum>2</picNum>",
        sighting.plate, sighting.direction, sighting.confidence
    );
    let xml = alert(
        &camera_time(sighting.when),
        post_count,
        "ANPR",
        "active",
        &inner,
    );
    let mut body = Vec::new();
    for (name, kind, data) in [
        ("anpr.xml", "application/xml", xml.into_bytes()),
        ("licensePlatePicture.jpg", "image/jpeg", picture("plate")),
        ("detectionPicture.jpg", "image/jpeg", picture("vehicle")),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A host listener that answers 200 and hands back each request it read.
    async fn listener() -> (SocketAddr, tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).await.unwrap();
                    request.extend_from_slice(&chunk[..n]);
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8(request[..end].to_vec()).unwrap();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if request.len() >= end + 4 + length {
                        break (head, request[end + 4..end + 4 + length].to_vec());
                    }
                };
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                tx.send((head, body)).await.unwrap();
            }
        });
        (addr, rx)
    }

    /// P10: a read arrives as multipart whose pictures contain the boundary; a re-send keeps
    /// its activePostCount, a new read counts on.
    #[tokio::test]
    async fn pushes_reads_resends_and_heartbeats() {
        let (addr, mut requests) = listener().await;
        let mut camera = CameraMock::new(addr, "/kezek/anpr");
        let sighting = Sighting {
            plate: "123ABC02".into(),
            confidence: 91,
            direction: "forward",
            when: OffsetDateTime::now_utc(),
        };
        assert_eq!(camera.read_plate(&sighting).await.unwrap(), 200);
        let (head, body) = requests.recv().await.unwrap();
        assert!(head.starts_with("POST /kezek/anpr HTTP/1.1"), "{head}");
        assert!(head.contains(&format!("multipart/form-data; boundary={BOUNDARY}")));
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("<licensePlate>123ABC02</licensePlate>"));
        assert!(text.contains("<activePostCount>1</activePostCount>"));
        assert!(text.contains(&format!(
            "<dateTime>{}</dateTime>",
            camera_time(sighting.when)
        )));
        assert!(
            text.matches(&format!("--{BOUNDARY}\r\n")).count() > 3,
            "the boundary inside the pictures"
        );
        assert!(text.contains(&format!("Content-Length: {}\r\n", picture("plate").len())));

        camera.resend(&sighting).await.unwrap();
        let (_, body) = requests.recv().await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<activePostCount>1</activePostCount>"));
        camera.read_plate(&sighting).await.unwrap();
        let (_, body) = requests.recv().await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<activePostCount>2</activePostCount>"));

        camera.heartbeat(sighting.when).await.unwrap();
        let (head, body) = requests.recv().await.unwrap();
        assert!(head.contains("Content-Type: application/xml"));
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("<eventType>videoloss</eventType>")
                && text.contains("<eventState>inactive</eventState>")
        );
    }
}
