package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildInfoVersion is the main module's path and version as the go command
// reads them from the binary's build information.
func buildInfoVersion(t *testing.T, bin string) (path, version string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" {
			return f[1], f[2]
		}
	}
	t.Fatalf("no mod line in go version -m output:\n%s", out)
	return "", ""
}

func TestVersionComesFromBuildInfo(t *testing.T) {
	t.Parallel()
	r := runBinary(t, environ(), "--version")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--version: %s", r)
	}
	_, version := buildInfoVersion(t, binary)
	if want := "starttls-probe " + version + "\n"; r.stdout != want {
		t.Errorf("--version printed %q, want %q (the version in the build information)", r.stdout, want)
	}
}

// TestVersionOfSourceBuild checks the version of a build without VCS
// stamping, as from a source tarball: Go reports the main module as
// "(devel)".
func TestVersionOfSourceBuild(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "starttls-probe")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := runCommand(t, environ(), bin, "--version")
	if r.code != 0 || r.stdout != "starttls-probe (devel)\n" {
		t.Errorf("--version of a source build: %s", r)
	}
}

// TestGoInstall checks that installing the module gives a binary named
// starttls-probe. The README's "go install <module>@latest" needs the
// network to fetch the module from the proxy, which tests must not use, so
// this installs the same package path from the local module: go install
// <module path> run in the module root resolves it there, and names the
// binary from the path's last element exactly as @latest does.
func TestGoInstall(t *testing.T) {
	t.Parallel()
	modPath, _ := buildInfoVersion(t, binary)
	gobin := t.TempDir()
	install := exec.Command("go", "install", modPath)
	install.Dir = moduleRoot
	install.Env = environ("GOBIN=" + gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", modPath, err, out)
	}
	entries, err := os.ReadDir(gobin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "starttls-probe" {
		t.Fatalf("go install put %q in GOBIN, want [starttls-probe]", names)
	}
	r := runCommand(t, environ(), filepath.Join(gobin, "starttls-probe"), "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "starttls-probe ") {
		t.Errorf("installed binary --version: %s", r)
	}
}

// The binary accepts SHA-1 handshake signatures (tlssha1=1), so that a
// server that signs only with SHA-1 is reported, not mistaken for a broken
// handshake.
func TestBinaryAcceptsSHA1HandshakeSignatures(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if !strings.Contains(string(out), "tlssha1=1") {
		t.Errorf("the binary's default GODEBUG lacks tlssha1=1:\n%s", out)
	}
}
