package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The shape of deploy/kubernetes/rbac.yaml, with a Deployment and a comment-only document that
// ApplyRBAC must pass over, and the binding before the role it names.
const testManifest = `# nodewatch's access: read nodes, nothing else
apiVersion: v1
kind: Namespace
metadata:
  name: nodewatch
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: nodewatch
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: nodewatch
subjects:
- kind: ServiceAccount
  name: nodewatch
  namespace: nodewatch
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: nodewatch
  namespace: nodewatch
---
# only a comment here
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: nodewatch
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nodewatch
  namespace: nodewatch
spec:
  selector:
    matchLabels: {app: nodewatch}
  template:
    metadata:
      labels: {app: nodewatch}
    spec:
      serviceAccountName: nodewatch
      containers:
      - name: nodewatch
        image: nodewatch:dev
`

func TestHarness(t *testing.T) {
	t0 := time.Now()
	s := Start(t)
	t.Logf("etcd and kube-apiserver ready in %s at %s", time.Since(t0).Round(time.Millisecond), s.URL)
	admin := s.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", v.GitVersion)

	manifest := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(manifest, []byte(testManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	ApplyRBAC(t, admin, manifest)
	ApplyRBAC(t, admin, manifest) // again: everything exists, each is updated
	if _, err := admin.AppsV1().Deployments("nodewatch").Get(ctx, "nodewatch", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment of the manifest: got %v, want NotFound (ApplyRBAC skips it)", err)
	}

	want := AKSNode("aks-system-12345678-vmss000000", "system", "AKSUbuntu-2204gen2containerd-202510.03.0",
		"Ubuntu 22.04.5 LTS", "5.15.0-1092-azure", "amd64")
	got := CreateNode(t, admin, want)
	if got.Labels[LabelNodeImageVersion] != "AKSUbuntu-2204gen2containerd-202510.03.0" || got.Labels[LabelAgentPool] != "system" ||
		got.Labels[LabelAgentPoolLegacy] != "system" || got.Labels[LabelOS] != "linux" || got.Labels[LabelArch] != "amd64" {
		t.Errorf("labels stored: %v", got.Labels)
	}
	if ni := got.Status.NodeInfo; ni.OSImage != "Ubuntu 22.04.5 LTS" || ni.KernelVersion != "5.15.0-1092-azure" ||
		ni.Architecture != "amd64" || ni.OperatingSystem != "linux" {
		t.Errorf("nodeInfo stored: %+v", ni)
	}
	if len(got.Spec.Taints) != 0 {
		t.Errorf("taints %v on a new node: TaintNodesByCondition should be off", got.Spec.Taints)
	}

	// nodewatch's static token and a real service-account token (TokenRequest) alike: nodes
	// read and watched, nothing else.
	if tok := s.Token(NodewatchUser, NodewatchGroups...); tok != s.NodewatchToken {
		t.Errorf("Token(%s) is not NodewatchToken", NodewatchUser)
	}
	for _, c := range []struct{ name, token string }{
		{"static token", s.NodewatchToken},
		{"service-account token", s.ServiceAccountToken(t, "nodewatch", "nodewatch")},
	} {
		nw := s.Client(t, c.token)
		nodes, err := nw.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: list nodes: %v", c.name, err)
		}
		if len(nodes.Items) != 1 || nodes.Items[0].Status.NodeInfo.KernelVersion != "5.15.0-1092-azure" {
			t.Fatalf("%s: nodes listed: %+v", c.name, nodes.Items)
		}
		if _, err := nw.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("%s: list pods: got %v, want 403", c.name, err)
		}
		if _, err := nw.CoreV1().Nodes().Create(ctx, AKSNode("rogue", "p", "x", "Ubuntu", "k", "amd64"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("%s: create node: got %v, want 403", c.name, err)
		}
	}
	watchNodes(ctx, t, s.Client(t, s.NodewatchToken), admin)

	if _, err := s.Client(t, s.NobodyToken).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("nobody: list nodes: got %v, want 403", err)
	}
	if _, err := s.Client(t, "not-a-token").CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("wrong token: list nodes: got %v, want 401", err)
	}

	// A kubeconfig, read the way the daemon reads one.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	s.Kubeconfig(t, kc, "aks-test", "aks-test-cluster", s.NodewatchToken)
	s.Kubeconfig(t, kc, "aks-nobody", "aks-test-cluster", s.NobodyToken) // added beside it
	for ctxName, wantErr := range map[string]func(error) bool{
		"aks-test":   func(err error) bool { return err == nil },
		"aks-nobody": apierrors.IsForbidden,
	} {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kc},
			&clientcmd.ConfigOverrides{CurrentContext: ctxName}).ClientConfig()
		if err != nil {
			t.Fatalf("kubeconfig context %s: %v", ctxName, err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !wantErr(err) {
			t.Errorf("kubeconfig context %s: list nodes: %v", ctxName, err)
		}
	}
	if cfg, err := clientcmd.LoadFromFile(kc); err != nil || cfg.CurrentContext != "aks-test" {
		t.Errorf("kubeconfig current-context: %v %v", cfg, err)
	}

	// The API server goes away and comes back on the same port; etcd kept the node as
	// watchNodes left it.
	t0 = time.Now()
	s.StopAPIServer(t)
	t.Logf("kube-apiserver stopped in %s", time.Since(t0).Round(time.Millisecond))
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	if _, err := admin.CoreV1().Nodes().List(short, metav1.ListOptions{}); err == nil {
		t.Errorf("list nodes with kube-apiserver stopped: no error")
	} else {
		t.Logf("list nodes with kube-apiserver stopped: %v", err)
	}
	cancelShort()
	t0 = time.Now()
	s.StartAPIServer(t)
	t.Logf("kube-apiserver ready again in %s", time.Since(t0).Round(time.Millisecond))
	back, err := admin.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node after the restart: %v", err)
	}
	if back.Labels[LabelNodeImageVersion] != "AKSUbuntu-2204gen2containerd-202511.07.0" || back.Status.NodeInfo.OSImage != "Ubuntu 22.04.5 LTS" {
		t.Errorf("node after the restart: labels %v nodeInfo %+v", back.Labels, back.Status.NodeInfo)
	}
	if _, err := s.Client(t, s.NodewatchToken).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("nodewatch after the restart: %v", err)
	}
}

// watchNodes watches as nodewatch from the list's resourceVersion while admin adds a Windows
// node and moves the first one to a new node image.
func watchNodes(ctx context.Context, t *testing.T, nw, admin kubernetes.Interface) {
	t.Helper()
	list, err := nw.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := nw.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("nodewatch: watch nodes: %v", err)
	}
	defer w.Stop()

	win := CreateNode(t, admin, AKSNode("akswin000000", "win22", "AKSWindows-2022-containerd-20348.4294.251010",
		"Windows Server 2022 Datacenter", "10.0.20348.4294", "amd64"))
	if win.Labels[LabelOS] != "windows" || win.Status.NodeInfo.OperatingSystem != "windows" {
		t.Errorf("windows node: labels %v nodeInfo %+v", win.Labels, win.Status.NodeInfo)
	}
	first := list.Items[0].DeepCopy()
	first.Labels[LabelNodeImageVersion] = "AKSUbuntu-2204gen2containerd-202511.07.0"
	if _, err := admin.CoreV1().Nodes().Update(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	type seen struct {
		typ   watch.EventType
		name  string
		image string
	}
	want := []seen{
		{watch.Added, "akswin000000", "AKSWindows-2022-containerd-20348.4294.251010"},
		{watch.Modified, first.Name, "AKSUbuntu-2204gen2containerd-202511.07.0"},
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < len(want); {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d events", i)
			}
			n, isNode := ev.Object.(*corev1.Node)
			if !isNode {
				t.Fatalf("watch event %d: %s %T", i, ev.Type, ev.Object)
			}
			g := seen{ev.Type, n.Name, n.Labels[LabelNodeImageVersion]}
			if i == 1 && g == (seen{watch.Modified, want[0].name, want[0].image}) {
				continue // CreateNode's status write, when the create had not kept the status already
			}
			if g != want[i] {
				t.Errorf("watch event %d: got %+v, want %+v", i, g, want[i])
			}
			i++
		case <-timeout:
			t.Fatalf("watch: %d of %d events in 30 s", i, len(want))
		}
	}
}

func TestTokenUnknownUserPanics(t *testing.T) {
	s := &Server{users: []tokenUser{{token: "t", name: "a", groups: []string{"g1", "g2"}}}}
	if s.Token("a") != "t" || s.Token("a", "g2", "g1") != "t" {
		t.Fatal("Token of a known user")
	}
	for _, c := range [][]string{{"b"}, {"a", "g1"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Token(%v) did not panic", c)
				}
			}()
			s.Token(c[0], c[1:]...)
		}()
	}
}
