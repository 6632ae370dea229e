# Kubernetes delivery targets (deploy, undeploy, kustomize, build-container, push-container).
