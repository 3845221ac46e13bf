{{/* Names and labels shared by every template: one definition each, so templates cannot drift. */}}

{{- define "pot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pot.labels" -}}
helm.sh/chart: {{ include "pot.chart" . }}
app.kubernetes.io/name: {{ include "pot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pot
{{- end -}}

{{- define "pot.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "pot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "pot.operatorServiceAccountName" -}}
{{- default (printf "%s-operator" (include "pot.fullname" .)) .Values.serviceAccounts.operator.name -}}
{{- end -}}

{{- define "pot.workerServiceAccountName" -}}
{{- default (printf "%s-worker" (include "pot.fullname" .)) .Values.serviceAccounts.worker.name -}}
{{- end -}}

{{/* repository@digest when image.digest is set (what `make image` prints), else repository:tag. */}}
{{- define "pot.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The namespaces served with a Role each (namespaced mode), as a JSON list. */}}
{{- define "pot.servedNamespaces" -}}
{{- if .Values.watch.namespaces -}}
{{- toJson .Values.watch.namespaces -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/* Where the worker ServiceAccount must exist: every served namespace plus the release's own. */}}
{{- define "pot.workerNamespaces" -}}
{{- toJson (append (fromJsonArray (include "pot.servedNamespaces" .)) .Release.Namespace | uniq) -}}
{{- end -}}

{{/* Restricted Pod Security Standard: the container settings shared by the operator and workers. */}}
{{- define "pot.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
