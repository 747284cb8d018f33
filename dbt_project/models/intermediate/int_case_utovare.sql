{#- One row per case (latest state) and chosen answer code of multiple-choice variable 'utovare'. -#}
{{ chosen_codes_bridge('utovare', 'utovare_kod') }}
