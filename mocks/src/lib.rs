//! mocks
