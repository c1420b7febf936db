// Package disttest holds the tests of the release that `make dist`
// (scripts/dist.sh) makes: that it is reproducible, that what it signs
// verifies, and that a release built from a clean checkout records a
// clean tree in every binary and installs with dpkg and rpm. They run
// scripts/dist.sh and scripts/dist-check.sh as a release manager would.
package disttest
