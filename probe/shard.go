package probe

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a run, for running one batch as Count
// processes (Kubernetes Indexed Job pods, each taking its
// JOB_COMPLETION_INDEX as Index). Index counts from 0. The zero value is no
// sharding: it owns every job.
//
// Jobs are split by destination address after discovery, not by target
// line: every endpoint of one address (all its ports, every domain that
// shares that MX host) belongs to one shard, so a shared mail host is
// handshaken by exactly one shard, and its results sit in one shard's
// output for the cross-endpoint checks. The price is that every shard
// reads the whole input and makes every DNS lookup; a lookup costs far
// less than the TLS handshake it saves from being made N times.
type Shard struct {
	Index, Count int
}

// ParseShard parses "K/N", the K-th of N shards counting from 0 (0/4 to
// 3/4), as --shard takes it.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	index, kerr := strconv.Atoi(k)
	count, nerr := strconv.Atoi(n)
	if !ok || kerr != nil || nerr != nil {
		return Shard{}, fmt.Errorf("shard %q: want K/N, the K-th of N shards counting from 0, e.g. 0/4", s)
	}
	if count < 1 {
		return Shard{}, fmt.Errorf("shard %q: the number of shards must be at least 1", s)
	}
	if index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %q: K must be 0 to %d: shards count from 0, as Kubernetes' JOB_COMPLETION_INDEX does", s, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// String is "K/N", as ParseShard reads it; "" for no sharding.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// Owns says whether j belongs to this shard: FNV-1a (64 bits) of j's
// destination, modulo Count. The destination is the canonical address
// (IPv4-mapped IPv6 as IPv4, so both spellings land together), or, for a
// job without one (discovery failed, or the probe will resolve the host
// itself), the lower-cased host name. FNV-1a because every shard's process
// must agree on the hash: Go's maphash is seeded at random per process.
func (s Shard) Owns(j Job) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(destination(j.Endpoint)))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// destination is the canonical address ep is dialed at, or, before
// discovery has found one, its lower-cased host name. An IP literal host is
// its own address, so that a literal target's shard is known before
// discovery, and is the same after.
func destination(ep Endpoint) string {
	addr := ep.Address
	if addr == "" {
		addr = ep.Host
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		return a.Unmap().String()
	}
	return "host " + strings.ToLower(strings.TrimSuffix(addr, "."))
}
