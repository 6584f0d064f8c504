//! Crash safety: a child process appends and reports each acknowledged batch, the parent
//! kills it with SIGKILL mid-write, reopens the store and finds every acknowledged entry.
