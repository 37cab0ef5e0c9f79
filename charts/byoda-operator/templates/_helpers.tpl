{{/* Names and labels of the byoda-operator chart. */}}

{{- define "byoda-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name when it names the chart already. */}}
{{- define "byoda-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "byoda-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "byoda-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of every object. managed-by is Helm: the operator's own children carry
managed-by byoda-operator, and its cache selects on that label.
*/}}
{{- define "byoda-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "byoda-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: byoda
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "byoda-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "byoda-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's image: repository, then @digest or :tag (default appVersion). */}}
{{- define "byoda-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Values the schema cannot judge alone. */}}
{{- define "byoda-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.manager.leaderElection) -}}
{{- fail (printf "replicaCount is %d but manager.leaderElection is false: two operators would reconcile the same objects; set manager.leaderElection=true or replicaCount=1" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.healthProbe.port)) -}}
{{- fail (printf "metrics.port and healthProbe.port are both %d: give them different ports" (int .Values.metrics.port)) -}}
{{- end -}}
{{- end -}}
