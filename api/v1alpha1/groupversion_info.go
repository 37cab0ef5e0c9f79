// Package v1alpha1 holds the byoda.net/v1alpha1 API: the DataPod, Service and
// Membership custom resources that the byoda operator reconciles (see
// docs/operator.md). The CRDs, deep copies and apply configurations are generated
// from these types by controller-gen (make generate manifests).
//
// +kubebuilder:object:generate=true
// +kubebuilder:ac:generate=true
// +groupName=byoda.net
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "byoda.net", Version: "v1alpha1"}

	// SchemeGroupVersion is GroupVersion under the name that generated
	// apply configurations use.
	SchemeGroupVersion = GroupVersion

	// SchemeBuilder registers the kinds of this package in a scheme.
	//
	//lint:ignore SA1019 the kubebuilder layout: each <kind>_types.go registers its kinds with it
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
