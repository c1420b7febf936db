package audit

import "path"

// attachments checks the files airlock writes beside receipts — the
// deployed file list and the encrypted step log — against the digests the
// receipts name: an edited file is an error, a missing one a warning, and
// one that no receipt names is noted.
func (a *auditor) attachments() {
	sides := make(map[string]*sideFile, len(a.sides))
	for _, s := range a.sides {
		sides[s.rel] = s
	}
	named := map[string]bool{}
	check := func(r *record, name string, want digest, what string) {
		rel := path.Join(dirOf(r.file), name)
		named[rel] = true
		if !a.opts.inScope(r.zone) {
			return
		}
		s := sides[rel]
		switch {
		case s == nil:
			f := newFinding(KindAttachmentMissing, r.zone, r.seq, r.file,
				"the receipt names its %s %s (sha256 %s), which is not beside it in the folder", what, name, short(want.String()))
			f.subject = rel
			a.findings = append(a.findings, f)
		case s.sum != want:
			f := newFinding(KindAttachmentMismatch, r.zone, r.seq, r.file,
				"%s %s has sha256 %s, but the receipt signed sha256 %s: the file was changed after the apply", what, rel, short(s.sum.String()), short(want.String()))
			f.Related, f.subject = []string{rel}, rel
			a.findings = append(a.findings, f)
		}
	}
	for _, r := range a.records {
		x := r.extra()
		if x.filesList != "" {
			check(r, x.filesList, x.filesSHA, "deployed file list")
		}
		if x.logName != "" {
			check(r, x.logName, x.logSHA, "step log")
		}
	}
	for _, s := range a.sides {
		if !named[s.rel] {
			a.findings = append(a.findings, newFinding(KindAttachmentOrphan, "", 0, s.rel,
				"a deployed file list or step log that no verified receipt in the folder names"))
		}
	}
	a.sides = nil
}
