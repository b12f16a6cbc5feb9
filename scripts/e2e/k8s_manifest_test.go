package e2e

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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

// singleRun is the shard script's probe command without --shard, as one
// run writing a JSON document, with the expectations of the merge script's
// "merge -o json" command (a shard judges nothing: the merge does).
func singleRun(t *testing.T, shardScript, mergeScript string, localize func(string) string) string {
	t.Helper()
	expectations := ""
	for _, line := range strings.Split(mergeScript, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, k8sBinary+" merge -o json "); ok {
			flags, _, ok := strings.Cut(rest, ` "$@"`)
			if !ok {
				t.Fatalf("want the merge command as BINARY merge -o json FLAGS \"$@\" > FILE, got %q", line)
			}
			expectations = flags
		}
	}
	if expectations == "" {
		t.Fatalf("no line of the merge script runs %s merge -o json:\n%s", k8sBinary, mergeScript)
	}
	for _, line := range strings.Split(shardScript, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, k8sBinary+" ") || !shardFlag.MatchString(line) {
			continue
		}
		cmd, _, ok := strings.Cut(line, " > ")
		if !ok || strings.Count(cmd, " -o jsonl ") != 1 {
			t.Fatalf("want the probe command as BINARY ... -o jsonl ... > FILE, got %q", line)
		}
		cmd = shardFlag.ReplaceAllString(cmd, "")
		return localize(strings.Replace(cmd, " -o jsonl ", " -o json "+expectations+" ", 1))
	}
	t.Fatalf("no line of the shard script runs %s with --shard:\n%s", k8sBinary, shardScript)
	return ""
}
