package container

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Kubernetes keys written by the kubelet (labels of every container) and by
// containerd's CRI plugin (OCI annotations) or cri-dockerd (labels).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	labelCRIKind       = "io.cri-containerd.kind"           // "sandbox" | "container"
	labelDockerType    = "io.kubernetes.docker.type"        // cri-dockerd: "podsandbox" | "container"
	labelDockerSandbox = "io.kubernetes.sandbox.id"         // cri-dockerd
	labelNerdctlName   = "nerdctl/name"                     // nerdctl
	annContainerType   = "io.kubernetes.cri.container-type" // "sandbox" | "container"
	annSandboxID       = "io.kubernetes.cri.sandbox-id"
	annSandboxName     = "io.kubernetes.cri.sandbox-name"
	annSandboxNS       = "io.kubernetes.cri.sandbox-namespace"
	annSandboxUID      = "io.kubernetes.cri.sandbox-uid"
	annContainerName   = "io.kubernetes.cri.container-name"
	annImageName       = "io.kubernetes.cri.image-name"
	// extSandboxMetadata is the containerd container extension where CRI
	// keeps a sandbox's metadata, JSON {"Version":"v1","Metadata":{…,"IP":…}}.
	extSandboxMetadata = "io.cri-containerd.sandbox.metadata"
)

// podFields fills the pod identity from a container's labels and
// annotations (labels first: the kubelet writes them for every runtime).
func podFields(in *Info, annotations map[string]string) {
	get := func(label, ann string) string {
		if v := in.Labels[label]; v != "" {
			return v
		}
		return annotations[ann]
	}
	in.PodName = get(labelPodName, annSandboxName)
	in.PodNamespace = get(labelPodNamespace, annSandboxNS)
	in.PodUID = get(labelPodUID, annSandboxUID)
	if in.SandboxID == "" {
		in.SandboxID = annotations[annSandboxID]
	}
	if in.SandboxID == "" {
		in.SandboxID = in.Labels[labelDockerSandbox]
	}
}

// isSandbox reports a pod's sandbox ("pause") container.
func isSandbox(labels, annotations map[string]string) bool {
	return labels[labelCRIKind] == "sandbox" || annotations[annContainerType] == "sandbox" ||
		labels[labelDockerType] == "podsandbox"
}

// sandboxIP reads the pod IP from CRI's sandbox metadata extension.
func sandboxIP(value []byte) string {
	var m struct {
		Metadata struct {
			IP string `json:"IP"`
		} `json:"Metadata"`
	}
	if json.Unmarshal(value, &m) != nil {
		return ""
	}
	return m.Metadata.IP
}

// Kubernetes' random name suffixes use this alphabet (no vowels, no
// look-alikes: k8s.io/apimachinery/pkg/util/rand).
const k8sAlnum = "[bcdfghjklmnpqrstvwxz2456789]"

var (
	deploymentPod = regexp.MustCompile(`^(.+)-(` + k8sAlnum + `{6,10})-` + k8sAlnum + `{5}$`)
	randomSuffix  = regexp.MustCompile(`^(.+)-` + k8sAlnum + `{5}$`)
	ordinalSuffix = regexp.MustCompile(`^(.+)-([0-9]+)$`)
	// A CronJob names its Jobs "<cronjob>-<scheduled time in minutes>".
	cronJobJob = regexp.MustCompile(`^(.+)-([0-9]{8,})$`)
)

// Workload infers the kind and name of the workload that owns a pod from
// its name and labels (the pod's own labels, which CRI puts on the sandbox)
// and annotations: the controllers label their pods (pod-template-hash,
// controller-revision-hash, job-name…), and name them by pattern. A pod
// nothing owns, or one that cannot be told, is "Pod".
func Workload(podName string, labels, annotations map[string]string) (kind, name string) {
	if podName == "" {
		return "", ""
	}
	// Static (mirror) pods come from the kubelet's manifests.
	if annotations["kubernetes.io/config.mirror"] != "" || labels["kubernetes.io/config.source"] == "file" ||
		annotations["kubernetes.io/config.source"] == "file" {
		return WorkloadPod, podName
	}
	job := labels["batch.kubernetes.io/job-name"]
	if job == "" {
		job = labels["job-name"]
	}
	if job != "" {
		if m := cronJobJob.FindStringSubmatch(job); m != nil {
			return WorkloadCronJob, m[1]
		}
		return WorkloadJob, job
	}
	if labels["statefulset.kubernetes.io/pod-name"] != "" {
		if m := ordinalSuffix.FindStringSubmatch(podName); m != nil {
			return WorkloadStatefulSet, m[1]
		}
		return WorkloadStatefulSet, podName
	}
	if labels["controller-revision-hash"] != "" && labels["pod-template-generation"] != "" {
		if m := randomSuffix.FindStringSubmatch(podName); m != nil {
			return WorkloadDaemonSet, m[1]
		}
		return WorkloadDaemonSet, podName
	}
	if h := labels["pod-template-hash"]; h != "" {
		// "<deployment>-<hash>-<xxxxx>"; a ReplicaSet made by hand has the
		// hash label only if someone put it there.
		if m := randomSuffix.FindStringSubmatch(podName); m != nil {
			if d, ok := strings.CutSuffix(m[1], "-"+h); ok {
				return WorkloadDeployment, d
			}
			return WorkloadReplicaSet, m[1]
		}
		return WorkloadDeployment, podName
	}
	// No controller labels (a runtime that does not keep the pod's labels):
	// only the Deployment pattern is distinctive enough to go by.
	if m := deploymentPod.FindStringSubmatch(podName); m != nil {
		return WorkloadDeployment, m[1]
	}
	return WorkloadPod, podName
}
