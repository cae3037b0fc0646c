{{/* Chart name, overridable with nameOverride. */}}
{{- define "metricsapp-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: the release name, plus the chart name unless it already contains it. */}}
{{- define "metricsapp-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "metricsapp-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "metricsapp-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metricsapp-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "metricsapp-operator.labels" -}}
helm.sh/chart: {{ include "metricsapp-operator.chart" . }}
{{ include "metricsapp-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: metricsapp
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "metricsapp-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "metricsapp-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: a digest pins it and wins over the tag. */}}
{{- define "metricsapp-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
"true" when leader election is on: forced by leaderElection.enabled, or "auto" with
more than one replica. Several replicas without it would reconcile the same objects
at once, so that combination is refused.
*/}}
{{- define "metricsapp-operator.leaderElection" -}}
{{- $enabled := .Values.leaderElection.enabled }}
{{- if eq (toString $enabled) "auto" }}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- else if $enabled }}true
{{- else if gt (int .Values.replicaCount) 1 }}
{{- fail "leaderElection.enabled=false with replicaCount > 1 would run several operators reconciling the same MetricsApps; set leaderElection.enabled to auto or true" }}
{{- end }}
{{- end }}

{{- define "metricsapp-operator.leaseName" -}}
{{- default (include "metricsapp-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The operator's permissions, exactly the API calls it makes (no wildcards); shared by
the ClusterRole (all namespaces) and the Role (watchNamespace).
*/}}
{{- define "metricsapp-operator.rules" -}}
# The watch of MetricsApps (list, watch); the finalizer and the one-time
# recreate-table annotation are JSON/merge patches (patch); a MetricsApp past its
# spec.expireAfter is deleted (delete).
- apiGroups: ["metricsapp.dev"]
  resources: ["metricsapps"]
  verbs: ["list", "watch", "patch", "delete"]
# Status is written with a merge patch, only when it changes.
- apiGroups: ["metricsapp.dev"]
  resources: ["metricsapps/status"]
  verbs: ["patch"]
# Owner references with blockOwnerDeletion on the app's objects need update on the
# owner's finalizers (OwnerReferencesPermissionEnforcement).
- apiGroups: ["metricsapp.dev"]
  resources: ["metricsapps/finalizers"]
  verbs: ["update"]
# The app's objects: read from watch caches (list, watch), written with server-side
# apply (patch; create when the object does not exist yet). Never read one by one,
# never updated or deleted (garbage collection deletes them with their MetricsApp).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services", "configmaps", "serviceaccounts"]
  verbs: ["list", "watch", "create", "patch"]
# The app's autoscaler and disruption budget, deleted when the spec stops asking for them.
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# The token Secrets of auth.mode token. Watched only by the label metricsapp.dev/tokens,
# and every value is dropped on arrival: the operator keeps only the names of their keys.
# Created once when the spec names none; patched only to add a session key the operator's
# own Secret lacks; never deleted by the operator (it dies with its MetricsApp).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch", "create", "patch"]
# Events about MetricsApps; repeated ones are patched as a series.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
