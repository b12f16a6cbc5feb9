package probe

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{in: "0/4", want: Shard{Index: 0, Count: 4}},
		{in: "3/4", want: Shard{Index: 3, Count: 4}},
		{in: "0/1", want: Shard{Index: 0, Count: 1}},
		{in: "4/4", wantErr: `shard "4/4": K must be 0 to 3: shards count from 0, as Kubernetes' JOB_COMPLETION_INDEX does`},
		{in: "-1/3", wantErr: `shard "-1/3": K must be 0 to 2`},
		{in: "0/0", wantErr: `shard "0/0": the number of shards must be at least 1`},
		{in: "1/-2", wantErr: "the number of shards must be at least 1"},
		{in: "junk", wantErr: `shard "junk": want K/N, the K-th of N shards counting from 0, e.g. 0/4`},
		{in: "1/", wantErr: "want K/N"},
		{in: "/4", wantErr: "want K/N"},
		{in: "1/2/3", wantErr: "want K/N"},
		{in: "", wantErr: "want K/N"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseShard(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseShard(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

// Over many random jobs: each is owned by exactly one of N shards; every job
// of one address (any port, host, TLS mode, or the IPv4-mapped spelling) by
// the same one; a job without an address by its host's, case aside; and the
// shards share the work about evenly.
func TestShardOwnsEachJobOnce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(14, 14))
	randomJob := func() Job {
		ep := Endpoint{Host: "mx" + strconv.Itoa(rng.IntN(1000)) + ".example.test", Port: 1 + rng.IntN(65535), Implicit: rng.IntN(2) == 0}
		switch rng.IntN(3) {
		case 0:
			var b [4]byte
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			ep.Address = netip.AddrFrom4(b).String()
		case 1:
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			ep.Address = netip.AddrFrom16(b).String()
		}
		return Job{Endpoint: ep}
	}
	// sibling is another job of j's destination.
	sibling := func(j Job) Job {
		s := j
		s.Endpoint.Port = 1 + rng.IntN(65535)
		s.Endpoint.Implicit = !j.Endpoint.Implicit
		s.Endpoint.Domain = "other.test"
		if a, err := netip.ParseAddr(j.Endpoint.Address); err == nil {
			s.Endpoint.Host = "other-name.test"
			if a.Is4() {
				s.Endpoint.Address = netip.AddrFrom16(a.As16()).String() // ::ffff:a.b.c.d
			}
		} else {
			s.Endpoint.Host = strings.ToUpper(j.Endpoint.Host) + "."
		}
		return s
	}
	if !(Shard{}).Owns(randomJob()) {
		t.Error("the zero Shard must own every job")
	}
	for _, n := range []int{1, 2, 3, 4, 7, 16} {
		owned := make([]int, n)
		const jobs = 4000
		for range jobs {
			j := randomJob()
			owners := 0
			for k := range n {
				s := Shard{Index: k, Count: n}
				if s.Owns(j) {
					owners++
					owned[k]++
					if sib := sibling(j); !s.Owns(sib) {
						t.Fatalf("%d/%d owns %+v but not %+v, of the same destination", k, n, j.Endpoint, sib.Endpoint)
					}
				}
			}
			if owners != 1 {
				t.Fatalf("%+v is owned by %d of %d shards, want 1", j.Endpoint, owners, n)
			}
		}
		// An even split gives each 1/n; half of that is many standard
		// deviations away at 4,000 jobs, so this does not flake.
		for k, c := range owned {
			if c < jobs/n/2 {
				t.Errorf("shard %d/%d owns %d of %d jobs: the split is uneven %v", k, n, c, jobs, owned)
			}
		}
	}
}
