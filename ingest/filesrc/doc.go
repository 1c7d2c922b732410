// Package filesrc implements pbi-pusher's file and stdin sources.
//
// A file source expands its glob patterns and reads every matching file. With follow: false it
// reads each file once to its end; with follow: true it tails the paths like `tail -F`: new files
// that match a glob are picked up, a rename rotation is finished from the still-open file before
// the new file at the path is read from its start, and a truncation (copytruncate) restarts the
// file at offset 0.
//
// Checkpoints. Each path has the spool metadata key "file/<absolute path>" holding the identity
// (device and inode) of the file last read at that path and the byte offset just past the last
// record written. The checkpoint is handed to the RecordWriter with the rows it covers, so it
// advances in the same spool transaction as those rows and a restart resumes exactly: a file
// whose identity has a checkpoint resumes at its offset, wherever it now lives among the matched
// paths (a rotated app.log.1 that the glob still matches); any other file starts at 0. When a
// file moves to another matched path, its checkpoint is copied to that path's key (a
// checkpoint-only Write) before the old key is reused, so no crash window re-reads it.
//
// Known limits, all shared with tail -F:
//   - copytruncate: lines not yet read when the file is truncated are lost (they live only in the
//     copy), and a truncation is detected only if the file is still shorter than the read
//     position at the next poll. The copy is a new file: a glob that matches it reads it again.
//     Prefer rename rotation.
//   - A rotated file that no glob matches is read until it has been idle for a few poll
//     intervals, then closed; lines written to it later, or while pbi-pusher was stopped, are
//     not read (a warning names the checkpoint that could not be resumed).
//   - Identity is device+inode: if a file is deleted and its inode reused by a new file at a
//     matched path, the new file resumes at the old offset (or at 0 if it is shorter).
//
// With follow: false a last line without a newline is read as a record at the end of the file;
// while following, a line is read only once its newline is written.
//
// The stdin source reads lines until EOF under the source name "stdin", without a checkpoint;
// EOF ends that source only.
package filesrc
