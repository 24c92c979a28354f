package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nodewatch/nodewatch/tracker/config"
)

// manifests decodes every document of deploy/kubernetes/NAME.
func manifests(t *testing.T, name string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func ofKind(t *testing.T, docs []map[string]any, kind string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == kind {
			return d
		}
	}
	t.Fatalf("no %s", kind)
	return nil
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// TestDeployManifests: the Deployment runs as the ServiceAccount that rbac.yaml binds to
// a role of get, list and watch on nodes and nothing else, with a configuration that
// loads and watches the cluster; the PrometheusRule's groups pass promtool's check and
// its unit test.
func TestDeployManifests(t *testing.T) {
	rbac := manifests(t, "rbac.yaml")
	role := ofKind(t, rbac, "ClusterRole")
	want := []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"nodes"}, "verbs": []any{"get", "list", "watch"}}}
	if !reflect.DeepEqual(role["rules"], want) {
		t.Errorf("ClusterRole rules %v, want get, list, watch on nodes only", role["rules"])
	}
	sa := ofKind(t, rbac, "ServiceAccount")
	subject := dig(ofKind(t, rbac, "ClusterRoleBinding"), "subjects", 0).(map[string]any)
	if subject["name"] != dig(sa, "metadata", "name") || subject["namespace"] != dig(sa, "metadata", "namespace") {
		t.Errorf("the binding's subject %v is not the ServiceAccount %v", subject, sa["metadata"])
	}

	deploy := manifests(t, "deployment.yaml")
	d := ofKind(t, deploy, "Deployment")
	if dig(d, "spec", "template", "spec", "serviceAccountName") != dig(sa, "metadata", "name") ||
		dig(d, "metadata", "namespace") != dig(sa, "metadata", "namespace") {
		t.Errorf("the Deployment does not run as rbac.yaml's ServiceAccount in its namespace")
	}
	cfgPath := filepath.Join(t.TempDir(), "nodewatch.yaml")
	os.WriteFile(cfgPath, []byte(dig(ofKind(t, deploy, "ConfigMap"), "data", "nodewatch.yaml").(string)), 0o600)
	env := map[string]string{"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}
	cfg, err := config.Load(cfgPath, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the ConfigMap's nodewatch.yaml: %v", err)
	}
	if !cfg.Kubernetes.Enabled || len(cfg.Kubernetes.Clusters) != 0 {
		t.Errorf("the ConfigMap does not watch the cluster it runs in: %+v", cfg.Kubernetes)
	}
	// Backups go where the README's restore steps look for them, on the data volume.
	if b := cfg.Storage.Backup; b == nil || b.Dir != "/data/backups" || filepath.Dir(cfg.Storage.Path) != "/data" {
		t.Errorf("the ConfigMap keeps the database at %s and its backups at %+v, want /data and /data/backups", cfg.Storage.Path, b)
	}

	// The restore Job runs db restore on the Deployment's volume and configuration.
	job := dig(ofKind(t, manifests(t, "restore-job.yaml"), "Job"), "spec", "template", "spec").(map[string]any)
	pod := dig(d, "spec", "template", "spec").(map[string]any)
	if !reflect.DeepEqual(job["volumes"], pod["volumes"]) || !reflect.DeepEqual(dig(job, "containers", 0, "volumeMounts"), dig(pod, "containers", 0, "volumeMounts")) {
		t.Errorf("the restore Job mounts %v, the Deployment %v", job["volumes"], pod["volumes"])
	}
	if args := fmt.Sprint(dig(job, "containers", 0, "args")); !strings.Contains(args, "db restore $(BACKUP)") {
		t.Errorf("the restore Job runs %s", args)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no promtool on PATH; apt-get install prometheus")
		}
		t.Skip("no promtool on PATH (apt-get install prometheus)")
	}
	dir := t.TempDir()
	groups, _ := yaml.Marshal(map[string]any{"groups": dig(ofKind(t, manifests(t, "prometheusrule.yaml"), "PrometheusRule"), "spec", "groups")})
	os.WriteFile(filepath.Join(dir, "rules.yaml"), groups, 0o600)
	if out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// Series as nodewatch exposes them (tracker/web's metrics test checks the names).
	os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(`rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'nodewatch_pool_images_behind{cluster="prod-weu",pool="apps",family="AKSUbuntu/gen2/2404containerd"}'
        values: '3x120'
      - series: 'nodewatch_pool_images_behind{cluster="prod-weu",pool="system",family="AKSUbuntu/gen2/2404containerd"}'
        values: '1x120'
      - series: 'nodewatch_cluster_up{cluster="prod-neu"}'
        values: '0x60'
      - series: 'nodewatch_database_problems'
        values: '0 0 2x10'
    alert_rule_test:
      - eval_time: 70m
        alertname: NodePoolImageBehind
        exp_alerts:
          - exp_labels: {severity: warning, cluster: prod-weu, pool: apps, family: AKSUbuntu/gen2/2404containerd}
            exp_annotations:
              summary: "prod-weu/apps is 3 node images behind"
              description: "Pool apps of cluster prod-weu runs an image of AKSUbuntu/gen2/2404containerd that is 3 images older than the newest AKS published. `+"`nodewatch nodes --cluster prod-weu`"+` says what the upgrade brings; `+"`az aks nodepool upgrade --node-image-only`"+` applies it."
      - eval_time: 40m
        alertname: NodewatchClusterUnreadable
        exp_alerts:
          - exp_labels: {severity: warning, cluster: prod-neu}
            exp_annotations:
              summary: "nodewatch cannot read cluster prod-neu"
              description: "The API server refuses nodewatch or does not answer; /readyz and the last cycle's report name the cause. Pools keep what was last known."
      - eval_time: 1m
        alertname: NodewatchDatabaseDamaged
        exp_alerts: []
      - eval_time: 3m
        alertname: NodewatchDatabaseDamaged
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "nodewatch's database is damaged: it is written no more"
              description: "bbolt's check (at start and daily) or a read found 2 problems in the database file. Cycles stop and /readyz fails until a backup is restored: scale the Deployment to 0, `+"`nodewatch db restore FILE`"+` from /data/backups (README, \"The database\"), scale it back to 1."
  # Two days and more: one daemon whose backups stopped at the start, one whose gauge
  # keeps up with the clock.
  - interval: 1m
    input_series:
      - series: 'nodewatch_backup_last_success_timestamp_seconds{instance="stopped"}'
        values: '0x3100'
      - series: 'nodewatch_backup_last_success_timestamp_seconds{instance="daily"}'
        values: '0+60x3100'
    alert_rule_test:
      - eval_time: 47h
        alertname: NodewatchBackupStale
        exp_alerts: []
      - eval_time: 50h
        alertname: NodewatchBackupStale
        exp_alerts:
          - exp_labels: {severity: warning, instance: stopped}
            exp_annotations:
              summary: "nodewatch has taken no backup of its database for two days"
              description: "The rotating backups (storage.backup) fail: the daemon's log says why (a full volume, a damaged file). The older backups in /data/backups are kept."
`), 0o600)
	cmd := exec.Command(promtool, "test", "rules", "test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
