//! ALPR results as JSON sources push them, top-N candidates with scores.
//!
//! Plate Recognizer: `{"data": {"results": [{"plate", "score" 0..1, "region": {"code"},
//! "candidates": [{"plate", "score"}]}], "timestamp"}}` (the webhook; the snapshot answer is
//! the same without `data`), as JSON or as multipart with a `json` field and the `upload`
//! picture. OpenALPR: `{"results": [{"plate", "confidence" 0..100, "region",
//! "candidates": [{"plate", "confidence"}]}], "epoch_time", "uuid"}`.

use kezek_device_sdk::multipart;
use kezek_device_sdk::{Picture, PictureKind, PlateCandidate};
use serde_json::Value;

/// One vehicle's read.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// Best first, without repeats, at most the configured number.
    pub candidates: Vec<PlateCandidate>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub reads: Vec<Read>,
    pub event: Option<String>,
    pub time: Option<String>,
    pub pictures: Vec<Picture>,
}

pub fn parse_push(
    content_type: &str,
    body: &[u8],
    max_candidates: usize,
) -> Result<Results, String> {
    let Some(boundary) = multipart::boundary(content_type) else {
        return parse_json(body, max_candidates, Vec::new());
    };
    let parts = multipart::split(body, boundary)?;
    let json = parts
        .iter()
        .find(|p| {
            p.name() == Some("json") || p.content_type().as_deref() == Some("application/json")
        })
        .ok_or("the push has no JSON part")?;
    let pictures = parts
        .iter()
        .filter(|p| p.content_type().is_some_and(|t| t.starts_with("image/")))
        .map(|p| Picture {
            kind: PictureKind::Vehicle,
            content_type: p.content_type().unwrap_or_default(),
            data: p.body.clone(),
        })
        .collect();
    parse_json(&json.body, max_candidates, pictures)
}

fn parse_json(
    body: &[u8],
    max_candidates: usize,
    pictures: Vec<Picture>,
) -> Result<Results, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let data = root.get("data").filter(|d| d.is_object()).unwrap_or(&root);
    let results = data
        .get("results")
        .and_then(Value::as_array)
        .ok_or("no \"results\" array")?;
    let reads = results
        .iter()
        .enumerate()
        .map(|(i, r)| read(r, max_candidates).map_err(|e| format!("results[{i}]: {e}")))
        .collect::<Result<_, _>>()?;
    let text = |v: &Value, key: &str| {
        v.get(key).and_then(|t| match t {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    Ok(Results {
        reads,
        event: text(data, "uuid").or_else(|| text(&root, "uuid")),
        time: text(data, "timestamp").or_else(|| text(data, "epoch_time")),
        pictures,
    })
}

/// A candidate's plate and confidence: `score` 0..1 (Plate Recognizer) or `confidence`
/// 0..100 (OpenALPR).
fn candidate(v: &Value) -> Result<PlateCandidate, String> {
    let plate = v
        .get("plate")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or("a candidate has no plate")?;
    let confidence = match (
        v.get("score").and_then(Value::as_f64),
        v.get("confidence").and_then(Value::as_f64),
    ) {
        (Some(s), _) if (0.0..=1.0).contains(&s) => s,
        (None, Some(c)) if (0.0..=100.0).contains(&c) => c / 100.0,
        (None, None) => return Err("a candidate has neither score nor confidence".into()),
        _ => return Err("a candidate's score is out of range".into()),
    };
    Ok(PlateCandidate {
        plate: plate.to_string(),
        confidence: confidence as f32,
    })
}

fn read(v: &Value, max_candidates: usize) -> Result<Read, String> {
    let mut candidates = vec![candidate(v)?];
    if let Some(list) = v.get("candidates") {
        let list = list.as_array().ok_or("\"candidates\" is not an array")?;
        for c in list {
            let c = candidate(c)?;
            match candidates.iter_mut().find(|known| known.plate == c.plate) {
                Some(known) => known.confidence = known.confidence.max(c.confidence),
                None => candidates.push(c),
            }
        }
    }
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    candidates.truncate(max_candidates);
    let region = match v.get("region") {
        Some(Value::Object(o)) => o.get("code").and_then(Value::as_str),
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    // "kz", "ru-77", "us-ca": the country is the part before the dash.
    let country = region
        .and_then(|r| r.split('-').next())
        .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase);
    Ok(Read {
        candidates,
        country,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plates(read: &Read) -> Vec<(&str, f32)> {
        read.candidates
            .iter()
            .map(|c| (c.plate.as_str(), c.confidence))
            .collect()
    }

    /// Issue 13: the JSON ALPR candidates, best first, both vendors' scales.
    #[test]
    fn candidates_from_both_vendors() {
        let plate_recognizer = r#"{"hook": {"target": "http://kezek", "id": "lane-1", "event": "recognition"},
          "data": {"camera_id": "lane-1", "timestamp": "from-the-camera", "results": [
            {"box": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}, "plate": "123abc02", "score": 0.902,
             "region": {"code": "kz", "score": 0.71}, "vehicle": {"type": "Big Truck", "score": 0.8},
             "candidates": [{"score": 0.902, "plate": "123abc02"}, {"score": 0.75, "plate": "123a8c02"},
                            {"score": 0.5, "plate": "l23abc02"}]}]}}"#;
        let r = parse_push("application/json", plate_recognizer.as_bytes(), 5).unwrap();
        assert_eq!(
            plates(&r.reads[0]),
            [("123abc02", 0.902), ("123a8c02", 0.75), ("l23abc02", 0.5)]
        );
        assert_eq!(r.reads[0].country.as_deref(), Some("KZ"));
        assert_eq!(r.time.as_deref(), Some("from-the-camera"));

        let openalpr = r#"{"version": 2, "data_type": "alpr_results", "epoch_time": 1, "uuid": "cam-1-42",
          "results": [{"plate": "A123BC77", "confidence": 94.5, "region": "ru-77",
             "candidates": [{"plate": "A123BC77", "confidence": 94.5}, {"plate": "A123BC71", "confidence": 97.0}]},
            {"plate": "01123ABC", "confidence": 80.0}]}"#;
        let r = parse_push("application/json", openalpr.as_bytes(), 1).unwrap();
        assert_eq!(
            plates(&r.reads[0]),
            [("A123BC71", 0.97)],
            "top-1 by confidence"
        );
        assert_eq!(r.reads[0].country.as_deref(), Some("RU"));
        assert_eq!(plates(&r.reads[1]), [("01123ABC", 0.8)]);
        assert_eq!(r.reads[1].country, None);
        assert_eq!(r.event.as_deref(), Some("cam-1-42"));
        assert_eq!(r.time.as_deref(), Some("1"));

        let empty = parse_push("application/json", br#"{"results": []}"#, 5).unwrap();
        assert!(empty.reads.is_empty());
    }

    #[test]
    fn multipart_webhook_with_picture() {
        let json = r#"{"data": {"results": [{"plate": "777zzz02", "score": 0.99}]}}"#;
        let mut body = Vec::new();
        body.extend_from_slice(format!("--x\r\nContent-Disposition: form-data; name=\"json\"\r\nContent-Length: {}\r\n\r\n{json}\r\n", json.len()).as_bytes());
        let jpeg = b"\xFF\xD8\r\n--x\r\n\xFF\xD9";
        body.extend_from_slice(format!("--x\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"car.jpg\"\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len()).as_bytes());
        body.extend_from_slice(jpeg);
        body.extend_from_slice(b"\r\n--x--\r\n");
        let r = parse_push("multipart/form-data; boundary=x", &body, 5).unwrap();
        assert_eq!(plates(&r.reads[0]), [("777zzz02", 0.99)]);
        assert_eq!(r.pictures.len(), 1);
        assert_eq!(r.pictures[0].data, jpeg);
    }

    #[test]
    fn malformed_results() {
        fn check(body: &str, want: &str) {
            let e = parse_push("application/json", body.as_bytes(), 5).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        check("{", "not JSON");
        check(r#"{"data": {}}"#, "no \"results\" array");
        check(r#"{"results": {}}"#, "no \"results\" array");
        check(
            r#"{"results": [{"score": 0.9}]}"#,
            "results[0]: a candidate has no plate",
        );
        check(r#"{"results": [{"plate": " ", "score": 0.9}]}"#, "no plate");
        check(
            r#"{"results": [{"plate": "A"}]}"#,
            "neither score nor confidence",
        );
        check(
            r#"{"results": [{"plate": "A", "score": 1.5}]}"#,
            "out of range",
        );
        check(
            r#"{"results": [{"plate": "A", "confidence": 101}]}"#,
            "out of range",
        );
        check(
            r#"{"results": [{"plate": "A", "score": 0.5, "candidates": 3}]}"#,
            "not an array",
        );
        check(
            r#"{"results": [{"plate": "A", "score": 0.5}, {"plate": "B", "score": 0.5, "candidates": [{"plate": "C"}]}]}"#,
            "results[1]",
        );
    }
}
