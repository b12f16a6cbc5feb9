package exporter

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// The landing page keeps the last successes and, for longer, the last
// failures: a failure at night is what the admin comes to read in the
// morning, after many good scrapes would have pushed it out.
const (
	keepSuccesses = 30
	keepFailures  = 200
)

// record is one probe as the landing page shows it.
type record struct {
	ID        uint64
	When      time.Time
	Module    string
	Target    string
	Status    string
	Failed    bool
	Duration  time.Duration
	Endpoints []endpointLine
	// Problem is the worst problem's message, "" when there is none.
	Problem string
	// debug draws the probe's debug output (once).
	debug func() []byte
}

// endpointLine is one endpoint of a probe: its leaf's SHA-1 and days left
// as the report decided them.
type endpointLine struct {
	Name, Address, Status, SHA1 string
	DaysLeft                    int
	HasLeaf                     bool
}

func newRecord(when time.Time, module, target string, took time.Duration, s report.Summary, debug func() []byte) record {
	r := record{When: when, Module: module, Target: target, Status: strings.ToLower(s.Status.String()),
		Failed: !s.Status.Passes(), Duration: took, debug: debug}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		line := endpointLine{Name: ep.Name(), Address: ep.Result.Address, Status: strings.ToLower(ep.Status.String())}
		if leaf := ep.Leaf(); leaf != nil {
			line.SHA1, line.DaysLeft, line.HasLeaf = leaf.SHA1, leaf.DaysLeft, true
		}
		r.Endpoints = append(r.Endpoints, line)
	}
	if len(s.Problems) > 0 {
		// Server text: escaped as the text report escapes it, before
		// html/template escapes it for HTML.
		r.Problem = render.Escape(s.Problems[0].Message)
	}
	return r
}

// history holds the recent probes, newest last in each list.
type history struct {
	mu                  sync.Mutex
	next                uint64
	successes, failures []record
}

func newHistory() *history { return &history{next: 1} }

func (h *history) add(r record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.ID = h.next
	h.next++
	if r.Failed {
		h.failures = appendBounded(h.failures, r, keepFailures)
	} else {
		h.successes = appendBounded(h.successes, r, keepSuccesses)
	}
}

func appendBounded(list []record, r record, limit int) []record {
	if len(list) >= limit {
		// Copy down rather than reslice, so that the array does not keep
		// the dropped records' debug output alive.
		copy(list, list[1:])
		list = list[:len(list)-1]
	}
	return append(list, r)
}

// recent is every kept probe, newest first.
func (h *history) recent() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	all := make([]record, 0, len(h.successes)+len(h.failures))
	all = append(append(all, h.successes...), h.failures...)
	// IDs grow with time: newest first is highest ID first.
	slices.SortFunc(all, func(a, b record) int { return cmp.Compare(b.ID, a.ID) })
	return all
}

func (h *history) find(id uint64) (record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, list := range [][]record{h.successes, h.failures} {
		for _, r := range list {
			if r.ID == id {
				return r, true
			}
		}
	}
	return record{}, false
}
