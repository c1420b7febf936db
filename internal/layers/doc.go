// Package layers holds the test that keeps airlock's packages layered:
//
//	cmd → apply → {verify, audit} → {bundle, receipt, zone} → internal
//
// (audit is verify's sibling: it checks receipts, verify bundles.)
// A package may import packages of its own layer or of layers to its
// right, never to its left: the formats (bundle, receipt, zone) know
// nothing of who verifies or applies them, and internal/ knows nothing of
// airlock's formats. scripts/ holds development programs and is outside
// the layers. The test reads every Go file's imports, tests included.
package layers
