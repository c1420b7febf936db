// Package bundle owns the release manifest (airlock.yaml) and the bundle
// format: manifest.json, the signed in-toto statement, the payload layout
// and the two forms a bundle takes on media (a folder, or the same files
// as one .airlock tar). It builds bundles on the trusted side and opens
// them, untrusted, anywhere.
//
// # airlock.yaml
//
// [LoadRelease] decodes airlock.yaml strictly — every problem is a
// [ReleaseError] with file:line:column — and checks it against the release
// directory ([Release.Check]): one walk over an fs.FS finds every payload
// entry, and every #{...} reference must resolve. The rules airlock.yaml
// shares with manifest.json (names, ranges, defaults) are defined once, in
// rules.go, and applied to both; so is the step kind table (stepkinds.go:
// each kind's settings, decoder, validator and description, which plan
// and inspect share through [Step.Describe]). The input kind table
// (inputkinds.go) says where each package's content comes from: a folder
// ([InputPath]) or an archive unpacked at build ([InputArchive]).
//
// # Building
//
// [Build] streams each file once: hashed, written into a deterministic tar,
// compressed with zstd, encrypted with age to the zone's recipients, cut
// into parts and hashed again; then manifest.json and the statement are
// written and signed, and the statement is recorded in the builder's
// ledger, from which the next sequence number comes ([NextSequence]).
// [AddSignature] adds an approver's signature in place.
//
// # Reading
//
// [Open] gives sized, bounded access to a bundle's files; nothing in it is
// trusted. [ParseStatement] and [ParseManifest] decode strictly and
// validate as hostile input. Whether to trust a bundle is package verify's
// decision; [Inspect] only reports what a bundle claims.
//
// # Compatibility
//
// Readers refuse a formatVersion they do not know, and read every version
// they know as it always read: later versions only add fields. Within a
// format version, file names, field names, step kinds and codes are
// stable; the frozen vectors in testdata/vectors (one folder per version)
// hold that promise (doc/design.md).
package bundle
