//go:build !linux

// Command torture is Linux only: it reads /proc and mounts tmpfs in a
// private mount namespace. See main.go.
package main

import "log"

func main() { log.Fatal("torture: Linux only (it reads /proc and mounts tmpfs)") }
