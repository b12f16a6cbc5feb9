package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// k8sExample is the Kubernetes example that TestKubernetesIndexedJobExample
// runs as written.
const k8sExample = "scripts/examples/k8s-indexed-job.yaml"

// The example's paths that the test swaps for its own: the binary in the
// image and the two volumes' mount points.
const (
	k8sBinary  = "/usr/local/bin/starttls-probe"
	k8sTargets = "/targets"
	k8sResults = "/results"
)

// k8sObject is the part of a Kubernetes object the test reads.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string         `yaml:"restartPolicy"`
				Containers    []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name         string   `yaml:"name"`
	Command      []string `yaml:"command"`
	Args         []string `yaml:"args"`
	VolumeMounts []struct {
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// k8sJobs are the example's two Jobs: the Indexed one that probes in
// shards, and the one that merges; each with its pod's sh -c script.
type k8sJobs struct {
	shards, merge            k8sObject
	shardScript, mergeScript string
	shardMounts, mergeMounts []string
	targetsInConfigMap       bool
}

// readK8sExample decodes every document of the example and picks out the
// Jobs and their scripts, checking that each pod runs its script as
// /bin/sh -c, which is how the test runs it too.
func readK8sExample(t *testing.T) k8sJobs {
	t.Helper()
	f, err := os.Open(filepath.Join(moduleRoot, k8sExample))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var jobs k8sJobs
	dec := yaml.NewDecoder(f)
	for {
		var obj k8sObject
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", k8sExample, err)
		}
		switch {
		case obj.Kind == "ConfigMap":
			_, jobs.targetsInConfigMap = obj.Data["targets.txt"]
		case obj.Kind == "Job" && obj.Spec.CompletionMode == "Indexed":
			jobs.shards = obj
			jobs.shardScript, jobs.shardMounts = podScript(t, obj)
		case obj.Kind == "Job":
			jobs.merge = obj
			jobs.mergeScript, jobs.mergeMounts = podScript(t, obj)
		}
	}
	if jobs.shardScript == "" || jobs.mergeScript == "" {
		t.Fatalf("%s: want an Indexed Job and a merge Job, each running a script", k8sExample)
	}
	return jobs
}

func podScript(t *testing.T, job k8sObject) (string, []string) {
	t.Helper()
	cs := job.Spec.Template.Spec.Containers
	if len(cs) != 1 || !slices.Equal(cs[0].Command, []string{"/bin/sh", "-c"}) || len(cs[0].Args) != 1 {
		t.Fatalf("Job %s: want one container running command [/bin/sh, -c] with its script as the one arg, got %+v", job.Metadata.Name, cs)
	}
	var mounts []string
	for _, m := range cs[0].VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	return cs[0].Args[0], mounts
}

// shardFlag is the example's --shard "$JOB_COMPLETION_INDEX/N".
var shardFlag = regexp.MustCompile(` --shard "\$JOB_COMPLETION_INDEX/([0-9]+)"`)

// TestKubernetesIndexedJobExample runs scripts/examples/k8s-indexed-job.yaml
// as written: its Indexed Job's pod script once per completion index, with
// JOB_COMPLETION_INDEX set, through sh -c as the pod's command does, then
// the merge Job's script. Only the binary's path, the two mount points and
// the targets file are the test's; the cluster's DNS is a loopback zone
// (--resolver, added by a wrapper standing in for the binary) and the
// image's CA certificates are the test's root (SSL_CERT_FILE). The merged
// report must hold the same endpoint results and exit status as one
// unsharded run of the shard command's flags, every endpoint must be in
// exactly one shard's file, and a name whose two addresses, in two
// shards, present different certificates must be judged across them.
func TestKubernetesIndexedJobExample(t *testing.T) {
	t.Parallel()
	jobs := readK8sExample(t)
	m := shardFlag.FindStringSubmatch(jobs.shardScript)
	if m == nil {
		t.Fatalf("the shard script has no --shard \"$JOB_COMPLETION_INDEX/N\":\n%s", jobs.shardScript)
	}
	shards, _ := strconv.Atoi(m[1])
	if shards < 2 || jobs.shards.Spec.Completions != shards || jobs.shards.Spec.Parallelism != shards {
		t.Fatalf("--shard .../%d, completions %d, parallelism %d: want N >= 2 shards, all of them run at once",
			shards, jobs.shards.Spec.Completions, jobs.shards.Spec.Parallelism)
	}
	if !strings.Contains(jobs.mergeScript, fmt.Sprintf(`"$#" -ne %d`, shards)) {
		t.Errorf("the merge script does not check for %d shard files:\n%s", shards, jobs.mergeScript)
	}
	if !jobs.targetsInConfigMap {
		t.Errorf("no ConfigMap with targets.txt")
	}
	for _, mounts := range [][]string{jobs.shardMounts, jobs.mergeMounts} {
		if !slices.Contains(mounts, k8sResults) {
			t.Errorf("a Job does not mount %s: %v", k8sResults, mounts)
		}
	}
	if !slices.Contains(jobs.shardMounts, k8sTargets) {
		t.Errorf("the shard Job does not mount %s: %v", k8sTargets, jobs.shardMounts)
	}

	fleet := startShardFleet(t, shards)
	dir := t.TempDir()
	for _, d := range []string{"targets", "results", "bin"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	targetsFile := filepath.Join(dir, "targets", "targets.txt")
	if err := os.WriteFile(targetsFile, []byte(strings.Join(fleet.targets, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The wrapper is the image's binary with the cluster's DNS: merge
	// makes no lookups and takes no --resolver.
	wrapper := filepath.Join(dir, "bin", "starttls-probe")
	wrapperText := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = merge ]; then exec %s \"$@\"; fi\nexec %s --resolver %s \"$@\"\n", binary, binary, fleet.resolver)
	if err := os.WriteFile(wrapper, []byte(wrapperText), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{jobs.shardScript, jobs.mergeScript} {
		for _, s := range []string{k8sBinary + " ", " " + k8sResults + "/"} {
			if !strings.Contains(script, s) {
				t.Fatalf("the script lacks %q, which the test swaps for its own:\n%s", s, script)
			}
		}
	}
	if !strings.Contains(jobs.shardScript, " "+k8sTargets+"/targets.txt") {
		t.Fatalf("the shard script does not read %s/targets.txt:\n%s", k8sTargets, jobs.shardScript)
	}
	localize := func(script string) string {
		script = strings.ReplaceAll(script, k8sBinary+" ", wrapper+" ")
		script = strings.ReplaceAll(script, " "+k8sTargets+"/", " "+filepath.Join(dir, "targets")+"/")
		return strings.ReplaceAll(script, " "+k8sResults+"/", " "+filepath.Join(dir, "results")+"/")
	}
	env := environ("SSL_CERT_FILE=" + fleet.caFile)

	// The pods, all at once as parallelism has them.
	shardScript := localize(jobs.shardScript)
	pods := make([]*exec.Cmd, shards)
	outputs := make([]*bytes.Buffer, shards)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	for k := range shards {
		pods[k] = exec.CommandContext(ctx, "sh", "-c", shardScript)
		pods[k].Env = append(slices.Clone(env), "JOB_COMPLETION_INDEX="+strconv.Itoa(k))
		outputs[k] = new(bytes.Buffer)
		pods[k].Stdout, pods[k].Stderr = outputs[k], outputs[k]
		if err := pods[k].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for k, pod := range pods {
		if err := pod.Wait(); err != nil {
			t.Errorf("shard pod %d failed (findings must not fail it): %v\n%s", k, err, outputs[k])
		}
	}
	if ctx.Err() != nil || t.Failed() {
		t.FailNow()
	}

	// Every endpoint is in exactly one shard's file.
	inShard := map[string]int{}
	shardFindings := 0 // the worst exit status a shard's probe had
	for k := range shards {
		file := filepath.Join(dir, "results", fmt.Sprintf("shard-%d.jsonl", k))
		out, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("shard %d wrote no file: %v", k, err)
		}
		if _, err := os.Stat(file + ".tmp"); err == nil {
			t.Errorf("shard %d left its .tmp file", k)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var l struct {
				Type    string `json:"type"`
				Target  string `json:"target"`
				Address string `json:"address"`
				Port    int    `json:"port"`
				Host    string `json:"host"`
				Differs bool   `json:"differs"`
				Exit    int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("shard %d: line %q: %v", k, line, err)
			}
			switch l.Type {
			case "endpoint":
				key := endpointKey(l.Target, l.Address, l.Port)
				if prev, ok := inShard[key]; ok {
					t.Errorf("%s is in shards %d and %d", key, prev, k)
				}
				inShard[key] = k
			case "summary":
				shardFindings = max(shardFindings, l.Exit)
			case "consistency":
				// Each shard sees one address of the name; the difference
				// is the merge's to find.
				if l.Differs {
					t.Errorf("shard %d alone found %s's addresses differing: %s", k, l.Host, line)
				}
			}
		}
	}
	if shardFindings != 1 {
		t.Errorf("the shards' worst status was %d, want 1 (mx2 expires within --warn-days) with every pod succeeded", shardFindings)
	}
	balanced := fleet.balanced
	if a, b := inShard[endpointKey(balanced.target, balanced.addrs[0], balanced.port)], inShard[endpointKey(balanced.target, balanced.addrs[1], balanced.port)]; a == b {
		t.Errorf("both addresses of %s are in shard %d: the cross-shard check is not exercised", balanced.target, a)
	}

	// The merge Job's script, then one unsharded run of the shard
	// command's flags.
	merged := runCommand(t, env, "sh", "-c", localize(jobs.mergeScript))
	if merged.code != 0 {
		t.Fatalf("merge pod failed: %s", merged)
	}
	statusLine := regexp.MustCompile(`exit status ([0-9])`).FindStringSubmatch(merged.stdout)
	if statusLine == nil {
		t.Fatalf("the merge pod's log does not say the run's exit status:\n%s", merged)
	}
	mergedCode, _ := strconv.Atoi(statusLine[1])
	if !strings.Contains(merged.stdout, "consistency "+fleet.balanced.name) {
		t.Errorf("the merge pod's text report lacks the consistency table of %s:\n%s", fleet.balanced.name, merged)
	}
	singleFile := filepath.Join(dir, "single.json")
	single := runCommand(t, env, "sh", "-c", singleRun(t, jobs.shardScript, localize)+" > "+singleFile)
	if single.code != 1 {
		t.Errorf("single run: exit %d, want 1 (%s's addresses present different certificates, mx2 expires soon)\n%s", single.code, balanced.name, single)
	}
	if mergedCode != single.code {
		t.Errorf("merged exit status %d, single run %d", mergedCode, single.code)
	}
	singleDoc, err := os.ReadFile(singleFile)
	if err != nil {
		t.Fatal(err)
	}
	mergedDoc, err := os.ReadFile(filepath.Join(dir, "results", "report.json"))
	if err != nil {
		t.Fatalf("the merge wrote no report.json: %v", err)
	}
	want, got := readK8sReport(t, singleDoc), readK8sReport(t, mergedDoc)
	if len(want.results) != fleet.endpoints {
		t.Fatalf("the single run has %d endpoints, want %d (a repeated target probed once)\n%s", len(want.results), fleet.endpoints, singleDoc)
	}
	if got.status != want.status {
		t.Errorf("merged report's status %q, single run's %q", got.status, want.status)
	}
	for ep, w := range want.results {
		if _, ok := inShard[ep]; !ok {
			t.Errorf("%s is in no shard", ep)
		}
		if got.results[ep] != w {
			t.Errorf("%s: merged result differs from the single run's:\n got %s\nwant %s", ep, got.results[ep], w)
		}
	}
	if len(got.results) != len(want.results) || len(inShard) != len(want.results) {
		t.Errorf("merged %d endpoints, shards %d, single run %d", len(got.results), len(inShard), len(want.results))
	}
	// The cross-shard finding, as the merge judged it.
	var groups []string
	for _, g := range got.consistency {
		if g.Host == balanced.name && g.Port == balanced.port && g.Differs && len(g.Addresses) == 2 {
			groups = append(groups, "consistency")
		}
	}
	if len(got.certificateGroups) > 0 {
		groups = append(groups, "certificate_groups")
	}
	if !slices.Equal(groups, []string{"consistency", "certificate_groups"}) {
		t.Errorf("the merged report has %v for %s, want a consistency group that differs and certificate groups:\n%s", groups, balanced.name, mergedDoc)
	}

	// A shard that fails (exit 3: here, no targets file) fails its pod and
	// leaves no file; the merge then refuses to judge fewer shards.
	if err := os.Remove(targetsFile); err != nil {
		t.Fatal(err)
	}
	failed := runCommand(t, append(slices.Clone(env), "JOB_COMPLETION_INDEX=1"), "sh", "-c", shardScript)
	if failed.code != 3 {
		t.Errorf("shard pod without its targets file: want exit 3 (a failed pod), got %s", failed)
	}
	if _, err := os.Stat(filepath.Join(dir, "results", "shard-1.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed shard left shard-1.jsonl (%v): the merge would judge the previous run's", err)
	}
	if short := runCommand(t, env, "sh", "-c", localize(jobs.mergeScript)); short.code != 3 || !strings.Contains(short.stderr, "want the") {
		t.Errorf("merge with a shard missing: want exit 3 and why, got %s", short)
	}
}

func endpointKey(target, address string, port int) string {
	return fmt.Sprintf("%s at %s port %d", target, address, port)
}

// singleRun is the shard script's probe command without --shard and with
// -o json instead of -o jsonl, up to its redirection: the same flags as
// one unsharded run.
func singleRun(t *testing.T, script string, localize func(string) string) string {
	t.Helper()
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, k8sBinary+" ") || !shardFlag.MatchString(line) {
			continue
		}
		cmd, _, ok := strings.Cut(line, " > ")
		if !ok || strings.Count(cmd, " -o jsonl ") != 1 {
			t.Fatalf("want the probe command as BINARY ... -o jsonl ... > FILE, got %q", line)
		}
		cmd = shardFlag.ReplaceAllString(cmd, "")
		return localize(strings.Replace(cmd, " -o jsonl ", " -o json ", 1))
	}
	t.Fatalf("no line of the shard script runs %s with --shard:\n%s", k8sBinary, script)
	return ""
}

// k8sReport is what the test compares of a JSON document.
type k8sReport struct {
	status            string
	results           map[string]string
	consistency       []k8sConsistency
	certificateGroups []json.RawMessage
}

type k8sConsistency struct {
	Host      string            `json:"host"`
	Port      int               `json:"port"`
	Differs   bool              `json:"differs"`
	Addresses []json.RawMessage `json:"addresses"`
}

// readK8sReport reads a JSON document: each result by its endpoint, as
// compact JSON without what differs between two probes of one server (the
// timings).
func readK8sReport(t *testing.T, doc []byte) k8sReport {
	t.Helper()
	var d struct {
		Status            string            `json:"status"`
		Results           []map[string]any  `json:"results"`
		Consistency       []k8sConsistency  `json:"consistency"`
		CertificateGroups []json.RawMessage `json:"certificate_groups"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, doc)
	}
	r := k8sReport{status: d.Status, results: map[string]string{}, consistency: d.Consistency, certificateGroups: d.CertificateGroups}
	for _, res := range d.Results {
		delete(res, "timings_ms")
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := res["port"].(float64)
		address, _ := res["address"].(string)
		target, _ := res["target"].(string)
		r.results[endpointKey(target, address, int(port))] = string(b)
	}
	return r
}

// shardFleet is the loopback mail hosts the example probes, named in a
// loopback DNS zone.
type shardFleet struct {
	targets   []string
	endpoints int // distinct endpoints among targets
	resolver  string
	caFile    string
	// balanced is a name with two addresses in different shards, each
	// presenting a certificate of its own.
	balanced struct {
		name, target string
		port         int
		addrs        [2]string
	}
}

// startShardFleet picks loopback addresses so that each of the shards owns
// at least one (probe.Shard.Owns, as --shard decides) and serves on them:
// lb.shard.test at two addresses owned by different shards on one port,
// each with its own valid leaf; mx1.shard.test on two ports of one address;
// mx2 (expiring in 14 days) and mx3 (in 25) on one port each; one target
// listed twice.
func startShardFleet(t *testing.T, shards int) shardFleet {
	t.Helper()
	byShard := make([][]string, shards)
	for x := 2; x < 255; x++ {
		addr := fmt.Sprintf("127.0.0.%d", x)
		for k := range shards {
			if (probe.Shard{Index: k, Count: shards}).Owns(probe.Job{Endpoint: probe.Endpoint{Address: addr}}) {
				byShard[k] = append(byShard[k], addr)
			}
		}
	}
	for k, addrs := range byShard {
		if len(addrs) < 2 {
			t.Fatalf("shard %d owns %d of 127.0.0.2-254, want 2", k, len(addrs))
		}
	}
	root, err := probetest.NewRootCA("k8s example Root")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string, days int) *probetest.Chain {
		c, err := root.Issue(probetest.Spec{CommonName: name, DNSNames: []string{name},
			NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var f shardFleet
	f.caFile = filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(f.caFile, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("cannot listen on %s (Linux has all of 127.0.0.0/8 on lo): %v", addr, err)
		}
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		return l
	}
	serve := func(l net.Listener, chain *probetest.Chain) int {
		s := probetest.Serve(l, probetest.Config{Chain: chain})
		t.Cleanup(func() { s.Close() })
		return l.Addr().(*net.TCPAddr).Port
	}
	b := &f.balanced
	b.name = "lb.shard.test"
	b.addrs = [2]string{byShard[0][0], byShard[1][0]}
	// One port on both addresses, as a load-balanced name has; another
	// process may hold it on the second address, so try a few.
	var second net.Listener
	for range 10 {
		first := listen(b.addrs[0] + ":0")
		port := first.Addr().(*net.TCPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(b.addrs[1], strconv.Itoa(port)))
		if err == nil {
			second = l
			b.port = serve(first, issue(b.name, 90))
			break
		}
		first.Close()
	}
	if second == nil {
		t.Fatalf("no port free on both %s and %s", b.addrs[0], b.addrs[1])
	}
	serve(second, issue(b.name, 90)) // the same name, another leaf
	b.target = net.JoinHostPort(b.name, strconv.Itoa(b.port))
	f.targets = append(f.targets, b.target)

	records := []string{"lb.shard.test. 60 IN A " + b.addrs[0], "lb.shard.test. 60 IN A " + b.addrs[1]}
	// mx2 expires within the example's --warn-days 21, a finding of its
	// shard's own; mx3 in 25 days, which only the default --warn-days 30
	// would warn of: the merge must be given the shards' expectations.
	hosts := []struct {
		name, addr  string
		ports, days int
	}{
		{"mx1.shard.test", byShard[2%shards][1], 2, 90},
		{"mx2.shard.test", byShard[3%shards][0], 1, 14},
		{"mx3.shard.test", byShard[0][1], 1, 25},
	}
	for _, h := range hosts {
		records = append(records, fmt.Sprintf("%s. 60 IN A %s", h.name, h.addr))
		chain := issue(h.name, h.days)
		for range h.ports {
			port := serve(listen(h.addr+":0"), chain)
			f.targets = append(f.targets, net.JoinHostPort(h.name, strconv.Itoa(port)))
		}
	}
	f.endpoints = len(f.targets) + 1                  // lb's second address
	f.targets = append(f.targets, "# a comment line") // as -f reads them
	f.targets = append(f.targets, f.targets[1])       // probed once
	f.resolver = serveZone(t, records...)
	return f
}
