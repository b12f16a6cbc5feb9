package main

import (
	"fmt"
	"net"
)

// listenEveryLoopback listens on a free port of every address: the one way
// to serve a port on all of 127.0.0.0/8 without a socket per address. It
// serves loopback only all the same: a connection from or to any other
// address is closed on accept, before a byte is sent.
//
// Accepted connections close with SO_LINGER 0 (a reset, no TIME_WAIT):
// a 100,000-endpoint round, run round after round, would otherwise leave
// the servers' side of every connection in TIME_WAIT for a minute, up to
// net.ipv4.tcp_max_tw_buckets. The server closes only after its 221 reply
// to QUIT, which on loopback has reached the client when close runs.
func listenEveryLoopback() (net.Listener, error) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return loopbackOnly{l}, nil
}

type loopbackOnly struct{ net.Listener }

func (l loopbackOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		local, _ := c.LocalAddr().(*net.TCPAddr)
		remote, _ := c.RemoteAddr().(*net.TCPAddr)
		if local == nil || remote == nil || !local.IP.IsLoopback() || !remote.IP.IsLoopback() {
			c.Close()
			continue
		}
		c.(*net.TCPConn).SetLinger(0)
		return c, nil
	}
}
