{{/* Names, labels and checks of the byoda-directory chart. */}}

{{- define "byoda-directory.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name when it names the chart already. */}}
{{- define "byoda-directory.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "byoda-directory.selectorLabels" -}}
app.kubernetes.io/name: {{ include "byoda-directory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "byoda-directory.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "byoda-directory.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: directory
app.kubernetes.io/part-of: byoda
app.kubernetes.io/managed-by: {{ .Release.Service }}
byoda.net/network: {{ .Values.network.domain }}
{{- end -}}

{{- define "byoda-directory.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The name of a CA object: <ca.namePrefix>-<what>. */}}
{{- define "byoda-directory.ca" -}}
{{- printf "%s-%s" .root.Values.ca.namePrefix .what -}}
{{- end -}}

{{- define "byoda-directory.claimName" -}}
{{- default (printf "%s-data" (include "byoda-directory.fullname" .)) .Values.storage.sqlite.existingClaim -}}
{{- end -}}

{{/* Values the schema cannot judge alone. */}}
{{- define "byoda-directory.validate" -}}
{{- $crn := .Values.certManager.clusterResourceNamespace -}}
{{- if ne .Release.Namespace $crn -}}
{{- fail (printf "the release namespace is %q, but the network's CA keys live in cert-manager's cluster resource namespace %q, where its ClusterIssuers read them, and the directory signs with them: install the chart there (helm install -n %s), or set certManager.clusterResourceNamespace to the namespace cert-manager was started with (--cluster-resource-namespace)" .Release.Namespace $crn $crn) -}}
{{- end -}}
{{- if eq .Values.storage.type "sqlite" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount is %d but storage.type is sqlite: SQLite lives on one volume and serves one directory; set replicaCount=1, or storage.type=postgres for more" (int .Values.replicaCount)) -}}
{{- end -}}
{{- else -}}
{{- if not .Values.storage.postgres.urlSecret.name -}}
{{- fail "storage.type is postgres but storage.postgres.urlSecret.name is empty: name the Secret whose key (storage.postgres.urlSecret.key) holds the postgres:// URL" -}}
{{- end -}}
{{- if not .Values.tls.secretName -}}
{{- fail "storage.type is postgres but tls.secretName is empty: without a volume every directory pod would make its own self-signed certificate for dir.<net>; name a kubernetes.io/tls Secret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
