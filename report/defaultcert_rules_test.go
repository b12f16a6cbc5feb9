package report

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestAboutFiveYearsBoundaries: Exchange's default certificate lives five
// years; within 30 days either side counts (leap days, the hours Exchange
// backs NotBefore off), exactly 30 days off does not.
func TestAboutFiveYearsBoundaries(t *testing.T) {
	const day = 24 * time.Hour
	five := 5 * 365 * day
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lifetime time.Duration
		want     bool
	}{
		{five, true},
		{five - 30*day, false},
		{five - 30*day + time.Second, true},
		{five + 30*day, false},
		{five + 30*day - time.Second, true},
		{4 * 365 * day, false},
		{6 * 365 * day, false},
	} {
		c := &x509.Certificate{NotBefore: from, NotAfter: from.Add(tc.lifetime)}
		if got := aboutFiveYears(c); got != tc.want {
			t.Errorf("lifetime %s (%.2f days): %v, want %v", tc.lifetime, tc.lifetime.Hours()/24, got, tc.want)
		}
	}
}
