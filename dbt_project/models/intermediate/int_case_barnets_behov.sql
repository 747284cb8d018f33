{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'barnets_behov'. -#}
{{ chosen_codes_bridge('barnets_behov', 'behov_kod') }}
