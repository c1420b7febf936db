// Command demoservice stands in for the payments API server during
// `make demo`: it answers GET /health with the version of the release
// current under -root (503 while there is none), so the example's check
// step polls a real HTTP service. It listens on a free port of 127.0.0.1,
// writes its address to -addr-file, and stops by itself after -lifetime.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	root := flag.String("root", "", "install root of the release (its current/VERSION is served)")
	addrFile := flag.String("addr-file", "", "file to write the listening address to")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "stop after this long")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
		log.Fatal(err)
	}
	time.AfterFunc(*lifetime, func() { os.Exit(0) })
	http.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		version, err := os.ReadFile(filepath.Join(*root, "current", "VERSION"))
		if err != nil {
			http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"status":"up","version":%q}`, bytes.TrimSpace(version))
	})
	log.Fatal(http.Serve(ln, nil))
}
