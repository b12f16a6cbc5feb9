package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestKubernetesIndexedJobExample runs scripts/examples/k8s-indexed-job.yaml
// as written: its Indexed Job's pod script once per completion index, with
// JOB_COMPLETION_INDEX set, through sh -c as the pod's command does, then
// the merge Job's script. Only the binary's path, the two mount points and
// the targets file are the test's; the cluster's DNS is a loopback zone
// (--resolver, added by a wrapper standing in for the binary) and the
// image's CA certificates are the test's root (SSL_CERT_FILE). The merged
// report must hold the same endpoint results and exit status as one
// unsharded run of the shard command's flags with the merge's expectations,
// every pod must succeed with exit 0 (a shard judges nothing), every
// endpoint must be in
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
	runShardPods(t, shardScript, env, shards)
	inShard := readShardFiles(t, filepath.Join(dir, "results"), shards)
	balanced := fleet.balanced
	if a, b := inShard[endpointKey(balanced.target, balanced.addrs[0], balanced.port)], inShard[endpointKey(balanced.target, balanced.addrs[1], balanced.port)]; a == b {
		t.Errorf("both addresses of %s are in shard %d: the cross-shard check is not exercised", balanced.target, a)
	}

	// The merge Job's script, then one unsharded run of the shard
	// command's flags and the merge's expectations.
	merged := runCommand(t, env, "sh", "-c", localize(jobs.mergeScript))
	if merged.code != 0 {
		t.Fatalf("merge pod failed: %s", merged)
	}
	statusLine := regexp.MustCompile(`merge: exit status ([0-9])`).FindStringSubmatch(merged.stdout)
	if statusLine == nil {
		t.Fatalf("the merge pod's log does not say the run's exit status:\n%s", merged)
	}
	mergedCode, _ := strconv.Atoi(statusLine[1])
	if !strings.Contains(merged.stdout, "consistency "+fleet.balanced.name) {
		t.Errorf("the merge pod's text report lacks the consistency table of %s:\n%s", fleet.balanced.name, merged)
	}
	singleFile := filepath.Join(dir, "single.json")
	single := runCommand(t, env, "sh", "-c", singleRun(t, jobs.shardScript, jobs.mergeScript, localize)+" > "+singleFile)
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
	for _, g := range got.certificateGroups {
		if g.Name == balanced.name && len(g.Certificates) == 2 {
			groups = append(groups, "certificate_groups")
		}
	}
	if !slices.Equal(groups, []string{"consistency", "certificate_groups"}) {
		t.Errorf("the merged report has %v for %s, want a consistency group that differs and a certificate group of its two leaves:\n%s", groups, balanced.name, mergedDoc)
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

// runShardPods runs the shard pods' script once per completion index, all
// at once; each must succeed (exit 0), findings or not.
func runShardPods(t *testing.T, script string, env []string, shards int) {
	t.Helper()
	pods := make([]*exec.Cmd, shards)
	outputs := make([]*bytes.Buffer, shards)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	for k := range shards {
		pods[k] = exec.CommandContext(ctx, "sh", "-c", script)
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
}

// readShardFiles reads the shards' JSONL in results: which shard each
// endpoint is in (an endpoint in two is an error). A shard writes
// observations, "shared" lines and its summary line, and judges nothing:
// a judged line (an endpoint's checks, a name's addresses compared) is an
// error, since that is the merge's to do over every shard.
func readShardFiles(t *testing.T, results string, shards int) map[string]int {
	t.Helper()
	inShard := map[string]int{}
	for k := range shards {
		file := filepath.Join(results, fmt.Sprintf("shard-%d.jsonl", k))
		out, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("shard %d wrote no file: %v", k, err)
		}
		if _, err := os.Stat(file + ".tmp"); err == nil {
			t.Errorf("shard %d left its .tmp file", k)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for n, line := range lines {
			var l struct {
				Type     string `json:"type"`
				Address  string `json:"address"`
				Endpoint struct {
					Target string `json:"target"`
					Port   int    `json:"port"`
				} `json:"endpoint"`
				Shard       string `json:"shard"`
				Interrupted bool   `json:"interrupted"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("shard %d: line %q: %v", k, line, err)
			}
			switch l.Type {
			case "observation":
				key := endpointKey(l.Endpoint.Target, l.Address, l.Endpoint.Port)
				if prev, ok := inShard[key]; ok {
					t.Errorf("%s is in shards %d and %d", key, prev, k)
				}
				inShard[key] = k
			case "summary":
				if want := fmt.Sprintf("%d/%d", k, shards); l.Shard != want || l.Interrupted || n != len(lines)-1 {
					t.Errorf("shard %d: summary line %s, want the last line, of shard %s, not interrupted", k, line, want)
				}
			case "shared", "certificate":
			default:
				t.Errorf("shard %d judged: %s", k, line)
			}
		}
	}
	return inShard
}

func endpointKey(target, address string, port int) string {
	return fmt.Sprintf("%s at %s port %d", target, address, port)
}

// k8sReport is what the test compares of a JSON document.
type k8sReport struct {
	status            string
	results           map[string]string
	consistency       []k8sConsistency
	certificateGroups []k8sCertificateGroup
}

type k8sCertificateGroup struct {
	Name         string            `json:"name"`
	Certificates []json.RawMessage `json:"certificates"`
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
		Status            string                `json:"status"`
		Results           []map[string]any      `json:"results"`
		Consistency       []k8sConsistency      `json:"consistency"`
		CertificateGroups []k8sCertificateGroup `json:"certificate_groups"`
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
