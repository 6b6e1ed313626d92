//! Wayne DART (protocols/dart.md).
