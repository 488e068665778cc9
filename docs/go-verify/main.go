// Command go-verify checks a running custos audit log with Go's own
// transparency-log packages (golang.org/x/mod/sumdb/note and tlog), not with
// custos code: the checkpoint signature, inclusion of entries, and
// consistency between two checkpoints.
//
//	go run main.go BASE_URL COMPLIANCE_TOKEN
//
// Exit status 0 when everything verifies.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var base, token string

func get(path string) []byte {
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("GET %s: %s %s", path, resp.Status, body)
	}
	return body
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-verify: "+format+"\n", args...)
	os.Exit(1)
}

type checkpoint struct {
	size int64
	root tlog.Hash
}

func open(v note.Verifier) checkpoint {
	n, err := note.Open(get("/v1/audit/checkpoint"), note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 {
		fail("checkpoint body: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	raw, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || err2 != nil || len(raw) != tlog.HashSize {
		fail("checkpoint body: %q", n.Text)
	}
	var c checkpoint
	c.size = size
	copy(c.root[:], raw)
	return c
}

func hashes(body []byte) []tlog.Hash {
	var p struct{ Hashes []string }
	if err := json.Unmarshal(body, &p); err != nil {
		fail("proof: %v", err)
	}
	out := make([]tlog.Hash, len(p.Hashes))
	for i, h := range p.Hashes {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) != tlog.HashSize {
			fail("proof hash %q", h)
		}
		copy(out[i][:], raw)
	}
	return out
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: go-verify BASE_URL COMPLIANCE_TOKEN")
	}
	base, token = strings.TrimRight(os.Args[1], "/"), os.Args[2]
	v, err := note.NewVerifier(strings.TrimSpace(string(get("/v1/audit/verifier-key"))))
	if err != nil {
		fail("verifier key: %v", err)
	}
	first := open(v)
	for _, seq := range []int64{0, first.size / 2, first.size - 1} {
		leaf := tlog.RecordHash(get(fmt.Sprintf("/v1/audit/entries/%d/raw", seq)))
		proof := hashes(get(fmt.Sprintf("/v1/audit/proofs/inclusion?seq=%d&tree_size=%d", seq, first.size)))
		if err := tlog.CheckRecord(tlog.RecordProof(proof), first.size, first.root, seq, leaf); err != nil {
			fail("inclusion of entry %d in tree %d: %v", seq, first.size, err)
		}
	}
	// Each request above was audited, so the log has grown since.
	second := open(v)
	if second.size <= first.size {
		fail("log did not grow: %d then %d", first.size, second.size)
	}
	proof := hashes(get(fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", first.size, second.size)))
	if err := tlog.CheckTree(tlog.TreeProof(proof), second.size, second.root, first.size, first.root); err != nil {
		fail("consistency %d -> %d: %v", first.size, second.size, err)
	}
	// And a wrong root must not pass.
	bad := first.root
	bad[0] ^= 1
	if tlog.CheckTree(tlog.TreeProof(proof), second.size, second.root, first.size, bad) == nil {
		fail("a changed root passed the consistency check")
	}
	fmt.Printf("go-verify: OK: checkpoint signatures (%s), inclusion of 3 entries in tree %d, consistency %d -> %d\n",
		v.Name(), first.size, first.size, second.size)
}
