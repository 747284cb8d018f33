{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'insatser'. -#}
{{ chosen_codes_bridge('insatser', 'insats_kod') }}
