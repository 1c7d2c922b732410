// Package e2e holds end-to-end tests that build the real pbi-pusher binary and run it against the
// Power BI emulator over real HTTP, with a real bbolt spool on disk.
package e2e
