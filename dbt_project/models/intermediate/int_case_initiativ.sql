{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'initiativ'. -#}
{{ chosen_codes_bridge('initiativ', 'initiativ_kod') }}
