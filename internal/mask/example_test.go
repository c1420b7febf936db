package mask_test

import (
	"fmt"
	"os"

	"airlock.dev/airlock/internal/mask"
)

func ExampleMasker_Writer() {
	m := mask.New([]string{"hunter22"})
	w := m.Writer(os.Stdout)
	fmt.Fprint(w, "password=hun")              // held back: could be the start of a secret
	fmt.Fprint(w, "ter22\n")                   // completes it
	fmt.Fprint(w, "as base64: aHVudGVyMjI=\n") // an encoded form
	m.Add("s3cond-secret")
	fmt.Fprint(w, "later: s3cond-secret\n")
	w.Close()
	// Output:
	// password=********
	// as base64: ********
	// later: ********
}
