{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'samverkan'. -#}
{{ chosen_codes_bridge('samverkan', 'samverkan_kod') }}
