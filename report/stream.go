package report

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Stream judges a run as its results come in, one mail host at a time, so
// that memory stays flat in the number of endpoints (-o jsonl over a
// million): a result is held only until the last endpoint of its group
// (GroupKey) has finished, then the group is judged with Judge, exactly as
// a judgement of the whole run would judge it, handed to the emit function
// and forgotten. What the run's verdict needs is kept as running Totals.
//
// The caller announces each endpoint with Expect before it can finish, and
// hands its result to Add. A group is complete when every endpoint
// announced for it has a result; an endpoint announced after its group was
// judged starts a new judgement of that name (a name given on lines far
// apart in a streamed file whose first endpoints finished before the later
// ones were read). Policies are not judged here: a run that looks them up
// judges the whole run at once.
type Stream struct {
	expect Expect
	now    time.Time
	emit   func(Summary) error

	mu     sync.Mutex
	groups map[string]*pendingGroup
	// announced counts Expect calls: each endpoint's place in the run.
	announced int
	totals    Totals
	err       error
}

// pendingGroup is a group's results so far, and how many are still out.
type pendingGroup struct {
	results     []probe.Result
	outstanding int
	// order is each announced endpoint's place: the group is judged in
	// the order its endpoints were announced, whatever order they finished
	// in, so that "the first among equals" is the same as in a judgement
	// of the whole run.
	order map[probe.Endpoint]probe.Place
}

// Totals are a streamed run's running verdict: what its summary line and
// exit status need, without the endpoints.
type Totals struct {
	Endpoints int
	// ByStatus counts endpoints by their status.
	ByStatus map[Status]int
	// Problems counts the warnings, criticals and unknowns the groups'
	// judgements raised.
	Problems int
	// Status is the worst endpoint status, Unknown when nothing was
	// judged (as Summary.Status).
	Status Status
}

// ExitCode is the run's exit status.
func (t Totals) ExitCode() int { return t.Status.ExitCode() }

// NewStream judges at now under expect and hands each group's judgement to
// emit, one call at a time; an error from emit is returned by the next Add
// and by Close, and nothing more is emitted after it.
func NewStream(expect Expect, now time.Time, emit func(Summary) error) *Stream {
	if expect.Cache == nil {
		// Chains repeat across groups (one certificate on every node of a
		// pool): verify each once for the run.
		expect.Cache = NewCache()
	}
	return &Stream{expect: expect, now: now, emit: emit, groups: map[string]*pendingGroup{},
		totals: Totals{ByStatus: map[Status]int{}, Status: Skipped}}
}

// Expect announces an endpoint whose result will come to Add: its group is
// not judged before that result is in. Its group lists it in the order of
// the announcements.
func (s *Stream) Expect(ep probe.Endpoint) { s.expectAt(ep, nil) }

// ExpectAt is Expect for an endpoint announced out of the input's order
// (probe.Plan's jobs): its group lists its endpoints by place.
func (s *Stream) ExpectAt(ep probe.Endpoint, place probe.Place) { s.expectAt(ep, &place) }

func (s *Stream) expectAt(ep probe.Endpoint, place *probe.Place) {
	key := GroupKey(ep, s.expect)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[key]
	if g == nil {
		g = &pendingGroup{order: map[probe.Endpoint]probe.Place{}}
		s.groups[key] = g
	}
	if _, dup := g.order[ep]; !dup {
		if place == nil {
			place = &probe.Place{Target: s.announced}
		}
		g.order[ep] = *place
	}
	s.announced++
	g.outstanding++
}

// Add takes an announced endpoint's result; when it is its group's last, the
// group is judged and emitted.
func (s *Stream) Add(r probe.Result) error {
	key := GroupKey(r.Endpoint, s.expect)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[key]
	if g == nil {
		// Not announced: judged on its own rather than lost.
		g = &pendingGroup{outstanding: 1, order: map[probe.Endpoint]probe.Place{}}
		s.groups[key] = g
	}
	g.results = append(g.results, r)
	g.outstanding--
	if g.outstanding > 0 {
		return s.err
	}
	delete(s.groups, key)
	s.judge(g)
	return s.err
}

// Close judges the groups still waiting for results (a run that was
// interrupted), in no particular order, and returns the run's totals.
func (s *Stream) Close() (Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, g := range s.groups {
		delete(s.groups, key)
		if len(g.results) > 0 {
			s.judge(g)
		}
	}
	t := s.totals
	if t.Status == Skipped {
		t.Status = Unknown
	}
	return t, s.err
}

// judge judges one complete group, counts it and emits it.
func (s *Stream) judge(g *pendingGroup) {
	slices.SortStableFunc(g.results, func(a, b probe.Result) int {
		return g.place(a.Endpoint).Compare(g.place(b.Endpoint))
	})
	sum := Judge(g.results, s.expect, s.now)
	for i := range sum.Endpoints {
		s.totals.Endpoints++
		s.totals.ByStatus[sum.Endpoints[i].Status]++
		s.totals.Status = Worse(s.totals.Status, sum.Endpoints[i].Status)
	}
	s.totals.Problems += len(sum.Problems)
	if s.err == nil {
		s.err = s.emit(sum)
	}
}

// place is where ep was announced; one never announced comes last.
func (g *pendingGroup) place(ep probe.Endpoint) probe.Place {
	if p, ok := g.order[ep]; ok {
		return p
	}
	return probe.Place{Target: math.MaxInt}
}

// SharedEndpoint attributes an endpoint that was probed once for another
// target to this one: with --mx, the MX hosts of a provider serve many
// domains, and each (address, port, SNI) is handshaken once per run.
type SharedEndpoint struct {
	// Domain and Target are this target's; Host, Address and Port name
	// the endpoint whose result is shared.
	Domain      string `json:"domain,omitempty"`
	Target      string `json:"target"`
	Host        string `json:"host"`
	Address     string `json:"address"`
	Port        int    `json:"port"`
	ServicePort int    `json:"service_port"`
}

// Shared is the attribution of the endpoint ep, a duplicate of one already
// probed.
func Shared(ep probe.Endpoint) SharedEndpoint {
	return SharedEndpoint{Domain: ep.Domain, Target: ep.Target, Host: ep.Host, Address: ep.Address, Port: ep.Port, ServicePort: ep.ServicePort()}
}
