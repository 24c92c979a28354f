package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// AKS's node labels, as the nodewatch daemon reads them.
const (
	LabelAgentPool        = "kubernetes.azure.com/agentpool"
	LabelAgentPoolLegacy  = "agentpool"
	LabelNodeImageVersion = "kubernetes.azure.com/node-image-version"
	LabelArch             = "kubernetes.io/arch"
	LabelOS               = "kubernetes.io/os"
	LabelHostname         = "kubernetes.io/hostname"
)

// ApplyRBAC creates the Namespaces, ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles
// and RoleBindings of the multi-document YAML manifest at manifestPath, in that order whatever
// their order in the file, each updated instead when it already exists. Documents of any other
// kind (a Deployment, a ConfigMap, a custom resource) are skipped, so the project's real
// deploy/kubernetes manifests can be given as they are.
func ApplyRBAC(t testing.TB, admin kubernetes.Interface, manifestPath string) {
	t.Helper()
	objs, err := decodeRBAC(manifestPath)
	if err != nil {
		t.Fatalf("kubetest: ApplyRBAC %s: %v", manifestPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Namespace:
			err = createOrUpdate(ctx, admin.CoreV1().Namespaces(), o)
		case *corev1.ServiceAccount:
			err = createOrUpdate(ctx, admin.CoreV1().ServiceAccounts(o.Namespace), o)
		case *rbacv1.ClusterRole:
			err = createOrUpdate(ctx, admin.RbacV1().ClusterRoles(), o)
		case *rbacv1.ClusterRoleBinding:
			err = createOrUpdate(ctx, admin.RbacV1().ClusterRoleBindings(), o)
		case *rbacv1.Role:
			err = createOrUpdate(ctx, admin.RbacV1().Roles(o.Namespace), o)
		case *rbacv1.RoleBinding:
			err = createOrUpdate(ctx, admin.RbacV1().RoleBindings(o.Namespace), o)
		}
		if err != nil {
			m := obj.(metav1.Object)
			t.Fatalf("kubetest: ApplyRBAC %s: %T %s/%s: %v", manifestPath, obj, m.GetNamespace(), m.GetName(), err)
		}
	}
}

// rbacOrder is the order ApplyRBAC creates kinds in: namespaces before what lives in them,
// roles before their bindings.
var rbacOrder = []string{"Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"}

// decodeRBAC reads the objects of the kinds in rbacOrder from a multi-document YAML file,
// sorted by rbacOrder, each kind in file order.
func decodeRBAC(path string) ([]runtime.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	byKind := map[string][]runtime.Object{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if blank(doc) {
			continue
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			continue // a kind client-go does not know: a custom resource
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		switch obj.(type) {
		case *corev1.Namespace, *corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding:
			byKind[gvk.Kind] = append(byKind[gvk.Kind], obj)
		}
	}
	var objs []runtime.Object
	for _, kind := range rbacOrder {
		objs = append(objs, byKind[kind]...)
	}
	return objs, nil
}

// blank tells whether a YAML document holds nothing but comments and space.
func blank(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// typedClient is what every typed client of client-go has for a kind T.
type typedClient[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

func createOrUpdate[T metav1.Object](ctx context.Context, c typedClient[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}

// AKSNode is a Node labelled and described as AKS registers one: the agent pool in both
// kubernetes.azure.com/agentpool and agentpool, the node image version label, the arch and os
// labels, and status.nodeInfo's osImage, kernelVersion, architecture and operatingSystem. The
// operating system is "windows" when osImage names Windows, "linux" otherwise. Create it with
// CreateNode, which also writes the status.
func AKSNode(name, pool, nodeImageVersion, osImage, kernel, arch string) *corev1.Node {
	goos := "linux"
	if strings.Contains(strings.ToLower(osImage), "windows") {
		goos = "windows"
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				LabelAgentPool:        pool,
				LabelAgentPoolLegacy:  pool,
				LabelNodeImageVersion: nodeImageVersion,
				LabelArch:             arch,
				LabelOS:               goos,
				LabelHostname:         name,
			},
		},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{
				OSImage:         osImage,
				KernelVersion:   kernel,
				Architecture:    arch,
				OperatingSystem: goos,
			},
		},
	}
}

// CreateNode creates node as admin, then writes its status through the status subresource,
// as a kubelet does (nodeInfo lives in status; a create of a Node happens to keep it today, and
// then the status write changes nothing and makes no watch event), and returns the Node stored.
func CreateNode(t testing.TB, admin kubernetes.Interface, node *corev1.Node) *corev1.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create node %s: %v", node.Name, err)
	}
	created.Status = *node.Status.DeepCopy()
	updated, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("kubetest: status of node %s: %v", node.Name, err)
	}
	return updated
}
