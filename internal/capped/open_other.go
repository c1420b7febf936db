//go:build !unix

package capped

import "os"

// openFlags open a file for reading; the type is checked on the open file.
const openFlags = os.O_RDONLY
