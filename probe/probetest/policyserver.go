package probetest

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// PolicyResponse is what the policy server answers for one domain's
// /.well-known/mta-sts.txt.
type PolicyResponse struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// ContentType is sent when not empty.
	ContentType string
	Body        string
	// Location is sent with a 3xx.
	Location string
}

// PolicyServer serves MTA-STS policies over HTTPS on loopback, as the web
// servers of mta-sts.DOMAIN would: each domain's answer picked by the Host
// header. Point probe.Options.PolicyHTTPSAddr at Addr.
type PolicyServer struct {
	srv *httptest.Server

	mu        sync.Mutex
	responses map[string]PolicyResponse
	requests  map[string]int
}

// StartPolicyServer serves HTTPS with chain on a free loopback port.
// Hosts without a response get 404.
func StartPolicyServer(chain *Chain) *PolicyServer {
	s := &PolicyServer{responses: map[string]PolicyResponse{}, requests: map[string]int{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{chain.TLSCertificate()}}
	s.srv.StartTLS()
	return s
}

// NewPolicyServer starts a policy server and stops it when the test ends.
func NewPolicyServer(t TB, chain *Chain) *PolicyServer {
	t.Helper()
	s := StartPolicyServer(chain)
	t.Cleanup(s.Close)
	return s
}

// Set makes the server answer r for mta-sts.DOMAIN.
func (s *PolicyServer) Set(domain string, r PolicyResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responses["mta-sts."+strings.ToLower(domain)] = r
}

// Requests is how many requests came for mta-sts.DOMAIN.
func (s *PolicyServer) Requests(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests["mta-sts."+strings.ToLower(domain)]
}

// Addr is the server's ADDR:PORT.
func (s *PolicyServer) Addr() string { return s.srv.Listener.Addr().String() }

// Close stops the server.
func (s *PolicyServer) Close() { s.srv.Close() }

func (s *PolicyServer) serve(w http.ResponseWriter, req *http.Request) {
	host := strings.ToLower(req.Host)
	s.mu.Lock()
	s.requests[host]++
	r, ok := s.responses[host]
	s.mu.Unlock()
	if !ok || req.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, req)
		return
	}
	if r.ContentType != "" {
		w.Header().Set("Content-Type", r.ContentType)
	}
	if r.Location != "" {
		w.Header().Set("Location", r.Location)
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte(r.Body))
}
