package report

import (
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// A stream verifies each chain once for the run: in the cache its caller
// gave, which main shares with the run's later judgements, or, given none,
// in one of its own across its groups.
func TestStreamVerifiesEachChainOnceForTheRun(t *testing.T) {
	t.Parallel()
	chain := reporttest.Chain(t, "good")
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	// Two names, so two groups, presenting one chain.
	results := []probe.Result{
		policyDialogue(25, chain),
		policyDialogue(25, chain),
	}
	results[1].Endpoint.Host = "mail2.contoso.test"
	for _, given := range []*Cache{NewCache(), nil} {
		expect := Expect{Roots: reporttest.Roots(t), Cache: given}
		emitted := 0
		s := NewStream(expect, now, func(Summary) error { emitted++; return nil })
		for _, r := range results {
			s.Expect(r.Endpoint)
		}
		for _, r := range results {
			if err := s.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if emitted != 2 {
			t.Fatalf("%d groups emitted, want 2: the case tests nothing", emitted)
		}
		used := s.expect.Cache
		if given != nil && used != given {
			t.Errorf("the stream judged with another cache than the one given")
		}
		if used == nil || used.verdicts.len() != 1 {
			t.Errorf("cache given %v: the stream's cache is %v, want one verdict for the one chain", given != nil, used)
		}
	}
}
