package kubernetes_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/nodewatch/nodewatch/tracker/kubernetes"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// TestTrimNode: the informer keeps of a real AKS node only its name, the labels a pool's
// answer reads and three fields of nodeInfo: images, conditions, managed fields and the
// rest are most of its bytes, held for every node of every cluster.
func TestTrimNode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "nodes", "kubectl-get-nodes-aks-ubuntu1804.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.NodeList
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	full := &list.Items[0]
	if len(full.Status.Conditions) == 0 || len(full.Labels) < 10 {
		t.Fatalf("the capture's node lacks the bulk this test is about: %d images, %d conditions, %d labels",
			len(full.Status.Images), len(full.Status.Conditions), len(full.Labels))
	}
	obj, err := kubernetes.TrimNode(full)
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*corev1.Node)
	before, _ := json.Marshal(full)
	after, _ := json.Marshal(n)
	t.Logf("a node of %d bytes kept as %d", len(before), len(after))
	if len(n.Status.Images) != 0 || len(n.Status.Conditions) != 0 || len(n.ManagedFields) != 0 || len(n.Status.Addresses) != 0 || n.Annotations != nil {
		t.Errorf("kept more than needed: %s", after)
	}
	want := map[string]string{
		"agentpool": "agentpool", "kubernetes.io/arch": "amd64",
		"kubernetes.azure.com/node-image-version": "AKSUbuntu-1804gen2-2021.06.12",
	}
	if len(n.Labels) != len(want) {
		t.Errorf("labels kept %v, want %v", n.Labels, want)
	}
	for k, v := range want {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	i := n.Status.NodeInfo
	if n.Name != full.Name || i.KernelVersion != "5.4.0-1049-azure" || i.OSImage != "Ubuntu 18.04.5 LTS" || i.Architecture != "amd64" || i.KubeletVersion != "" {
		t.Errorf("nodeInfo kept: %+v", i)
	}
	if len(after)*4 > len(before) {
		t.Errorf("kept %d of %d bytes: the transform should keep a quarter at most", len(after), len(before))
	}
}
