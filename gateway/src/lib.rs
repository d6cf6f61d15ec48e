//! Kezek gateway.
