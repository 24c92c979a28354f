package nodefile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/nodefile"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

func capture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "nodes", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// generic decodes a capture without the parser, to check the parser against.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// nodesOf reads what the generic decode of a node list says of each node.
func nodesOf(t *testing.T, list any) []tracker.Node {
	t.Helper()
	var out []tracker.Node
	for _, it := range list.(map[string]any)["items"].([]any) {
		m := it.(map[string]any)
		meta := m["metadata"].(map[string]any)
		labels := map[string]string{}
		for k, v := range meta["labels"].(map[string]any) {
			labels[k] = v.(string)
		}
		info := m["status"].(map[string]any)["nodeInfo"].(map[string]any)
		out = append(out, tracker.Node{Name: meta["name"].(string), Pool: labels["agentpool"],
			NodeImageVersion: labels["kubernetes.azure.com/node-image-version"], OSImage: info["osImage"].(string),
			Kernel: info["kernelVersion"].(string), Arch: info["architecture"].(string)})
	}
	return out
}

// TestReadRealCaptures reads what kubectl and az printed for real clusters, in every
// shape `nodes -f` takes: the list as JSON and as YAML, one Node, an agent pool, a list
// of them, a managed cluster's profiles.
func TestReadRealCaptures(t *testing.T) {
	list := capture(t, "kubectl-get-nodes-aks-ubuntu1804.json")
	want := nodesOf(t, generic(t, list))
	if len(want) != 3 || want[0].NodeImageVersion != "AKSUbuntu-1804gen2-2021.06.12" {
		t.Fatalf("the capture is not what its README says: %+v", want)
	}
	asYAML, err := yaml.JSONToYAML(list)
	if err != nil {
		t.Fatal(err)
	}
	var items struct{ Items []json.RawMessage }
	if err := json.Unmarshal(list, &items); err != nil {
		t.Fatal(err)
	}
	win := capture(t, "az-aks-nodepool-add-windows2022.json")
	ubu := capture(t, "az-aks-nodepool-update-ubuntu2204.json")
	poolList := []byte("[" + string(win) + "," + string(ubu) + "]")
	// az aks show prints the cluster with its pools under agentPoolProfiles.
	managed, _ := json.Marshal(map[string]any{"name": "recordingbotcluster", "agentPoolProfiles": []any{generic(t, win), generic(t, ubu)}})

	for _, c := range []struct {
		name, shape, cluster string
		data                 []byte
		nodes                []tracker.Node
		pools                []string // name=image*count
	}{
		{"kubectl get nodes -o json", nodefile.ShapeNodeList, "", list, want, nil},
		{"kubectl get nodes -o yaml", nodefile.ShapeNodeList, "", asYAML, want, nil},
		{"kubectl get node -o json", nodefile.ShapeNode, "", items.Items[1], want[1:2], nil},
		{"az aks nodepool show (Windows)", nodefile.ShapeNodepoolShow, "recordingbotcluster", win, nil,
			[]string{"win22=AKSWindows-2022-containerd-20348.2340.240401*2"}},
		{"az aks nodepool show (Ubuntu)", nodefile.ShapeNodepoolShow, "recordingbotcluster", ubu, nil,
			[]string{"nodepool1=AKSUbuntu-2204gen2containerd-202403.25.0*1"}},
		{"az aks nodepool list", nodefile.ShapeNodepoolList, "recordingbotcluster", poolList, nil,
			[]string{"win22=AKSWindows-2022-containerd-20348.2340.240401*2", "nodepool1=AKSUbuntu-2204gen2containerd-202403.25.0*1"}},
		{"az aks show", nodefile.ShapeManagedCluser, "recordingbotcluster", managed, nil,
			[]string{"win22=AKSWindows-2022-containerd-20348.2340.240401*2", "nodepool1=AKSUbuntu-2204gen2containerd-202403.25.0*1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := nodefile.Read(c.name, bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if in.Shape != c.shape || in.Cluster != c.cluster {
				t.Errorf("shape %q cluster %q, want %q %q", in.Shape, in.Cluster, c.shape, c.cluster)
			}
			if c.nodes != nil && !equalNodes(in.Nodes, c.nodes) {
				t.Errorf("nodes\n got %+v\nwant %+v", in.Nodes, c.nodes)
			}
			var pools []string
			for _, p := range in.AgentPools {
				pools = append(pools, p.Name+"="+p.NodeImageVersion+"*"+itoa(p.Count))
			}
			if strings.Join(pools, " ") != strings.Join(c.pools, " ") {
				t.Errorf("agent pools %v, want %v", pools, c.pools)
			}
		})
	}
}

func equalNodes(a, b []tracker.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestCapturesJudged: the 2021 cluster runs Ubuntu 18.04, a line AKS retired (never
// matched to a current family); the Ubuntu 22.04 pool of 2024 runs an image older than
// any in the history of its family; the Windows Server 2022 gen1 pool's family is not
// in the world served.
func TestCapturesJudged(t *testing.T) {
	r := trackertest.NewRigOf(t, filepath.Join("..", "..", "testdata", "world-later"), tracker.FirstRunSilent, "*")
	r.Cycle(t)
	fleet, err := r.Tracker.LoadFleet(tracker.DefaultBehind)
	if err != nil {
		t.Fatal(err)
	}
	judge := func(name string) []tracker.NodePool {
		in, err := nodefile.Read(name, bytes.NewReader(capture(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		return fleet.Judge(in.Groups())
	}
	old := judge("kubectl-get-nodes-aks-ubuntu1804.json")
	if len(old) != 1 || old[0].Status != tracker.PoolUnknownFamily || old[0].Nodes != 3 || old[0].Running.OSImage != "Ubuntu 18.04.5 LTS" ||
		!strings.Contains(strings.Join(old[0].Notes, " "), "Ubuntu 18.04, which AKS no longer publishes") {
		t.Errorf("the 2021 Ubuntu 18.04 cluster: %+v", old)
	}
	u := judge("az-aks-nodepool-update-ubuntu2204.json")
	if len(u) != 1 || u[0].Status != tracker.PoolUnknownVersion || u[0].Family != "AKSUbuntu/gen2/2204containerd" ||
		u[0].Running != nil || u[0].Newest == nil || *u[0].DaysBehind < 900 {
		t.Errorf("the 2024 Ubuntu 22.04 pool: %+v", u)
	}
	w := judge("az-aks-nodepool-add-windows2022.json")
	if len(w) != 1 || w[0].Status != tracker.PoolUnknownFamily || w[0].Family != "" {
		t.Errorf("the Windows Server 2022 pool: %+v", w)
	}
}

// TestInputOfNoAcceptedShape: one line that names the file, says what it is and what
// was expected.
func TestInputOfNoAcceptedShape(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"pods.json", `{"apiVersion":"v1","kind":"List","items":[{"kind":"Pod","metadata":{"name":"a"}}]}`, "a List of Pod objects, not Nodes"},
		{"svc.json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}`, `a Kubernetes object of kind "Service"`},
		{"empty.json", "  \n", "empty input"},
		{"numbers.json", `[1, 2]`, "a JSON array that does not parse"},
		{"other.json", `[{"kind": "Pod"}]`, "element 0 is no agent pool"},
		{"text.txt", "hello: [world", "neither JSON nor YAML"},
		{"scalar.yaml", "just words", "YAML that is no object or list"},
		{"cut.json", `{"kind":"List","items":[{"kind":"Node"`, "does not parse"},
		// What a user pipes by mistake: `kubectl get nodes -o wide`, as posted in Azure/AKS#2749.
		{"wide.txt", "NAME                              STATUS   ROLES   AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION     CONTAINER-RUNTIME\n" +
			"aks-default-xxxxxxxx-vmss000000   Ready    agent   23m   v1.22.4   xx.xx.52.4     <none>        Ubuntu 18.04.6 LTS               5.4.0-1067-azure   containerd://1.5.5+azure\n" +
			"akswm000000                       Ready    agent   17m   v1.22.4   xx.xx.54.4     <none>        Windows Server 2019 Datacenter   10.0.17763.2366    docker://20.10.9\n", "a table, as kubectl prints without -o json"},
	} {
		_, err := nodefile.Read(c.name, strings.NewReader(c.data))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, c.name+": ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line naming the file and %q", c.name, msg, c.want)
		}
		if c.name != "cut.json" && c.name != "empty.json" && !strings.Contains(msg, "expected what `kubectl get nodes") {
			t.Errorf("%s: %q does not say what was expected", c.name, msg)
		}
	}
}
