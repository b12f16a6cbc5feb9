package probe

import (
	"container/list"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
)

// maxCachedHosts bounds the MX-host address cache of one Discover or Plan
// call. The hosts worth remembering are few and shared by many domains (a
// handful of Google's and Microsoft 365's serve millions); the rest are
// each domain's own, asked once. 10,000 names of 253 characters with a
// few addresses each cost under 6 MB, whatever the length of the run.
const maxCachedHosts = 10_000

// hostCache remembers the address answers of MX hosts, each looked up once
// however many domains and workers ask for it, and forgets the least
// recently used name beyond its bound: memory stays flat over a million
// domains, and a shared host, asked again and again, stays in.
type hostCache struct {
	max int

	mu      sync.Mutex
	names   map[string]*list.Element // of *hostLookup
	recency *list.List               // most recently used first
}

// hostLookup is one name's answer, looked up once by whichever worker asks
// first; the others wait for it.
type hostLookup struct {
	name   string
	once   sync.Once
	answer addrAnswer
}

func newHostCache(max int) *hostCache {
	return &hostCache{max: max, names: map[string]*list.Element{}, recency: list.New()}
}

// lookup returns host's answer, from resolve the first time. An answer
// that may be different on asking again (a timeout, a server failure, a
// cancelled run) is given to those waiting for it and then forgotten: over
// a long run one lost packet must not fail every later domain of that host.
func (c *hostCache) lookup(host string, resolve func() addrAnswer) addrAnswer {
	key := strings.ToLower(strings.TrimSuffix(host, "."))
	c.mu.Lock()
	e, ok := c.names[key]
	if ok {
		c.recency.MoveToFront(e)
	} else {
		e = c.recency.PushFront(&hostLookup{name: key})
		c.names[key] = e
		if c.recency.Len() > c.max {
			oldest := c.recency.Back()
			c.recency.Remove(oldest)
			delete(c.names, oldest.Value.(*hostLookup).name)
		}
	}
	l := e.Value.(*hostLookup)
	c.mu.Unlock()
	l.once.Do(func() {
		l.answer = resolve()
		if transient(l.answer.err) {
			c.forget(e)
		}
	})
	return l.answer
}

// forget drops e, unless it was evicted (and its name perhaps asked anew)
// meanwhile.
func (c *hostCache) forget(e *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := e.Value.(*hostLookup).name
	if c.names[name] == e {
		c.recency.Remove(e)
		delete(c.names, name)
	}
}

// len is how many names the cache holds.
func (c *hostCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recency.Len()
}

// transient says whether a lookup error may not recur: a timeout, a
// temporary failure (SERVFAIL), or the run's context ending. "No such host"
// and "no address" are answers.
func transient(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
