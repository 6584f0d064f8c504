//! Unit tests of the script parser and the value comparison.
