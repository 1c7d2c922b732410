//go:build !unix

package filesrc

import "io/fs"

// identitySupported is false: without device/inode numbers rotation cannot be followed safely.
const identitySupported = false

func idOf(fs.FileInfo) fileID { return fileID{} }
