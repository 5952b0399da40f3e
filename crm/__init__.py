"""Write-back to where a lead came from: one module per CRM, each one HTTP call per try, no loop of its own."""
