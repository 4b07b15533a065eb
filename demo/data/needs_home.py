"""Shopper needs around the house: repairs, kitchen and home comfort (see `schema.need` for the notation)."""
from .schema import need

NEEDS = [
    need("regrout_shower", [
        "knowledge: what do I need to redo the grout in my shower",
        "qa: the lines between my bathroom tiles are cracked and black, how do I fix them",
        "knowledge: supplies for replacing old mouldy joints in a tiled wall",
    ], wants="grout_saw sanded_grout grout_float grout_sealer tile_sponge:2 unsanded_grout:2 oscillating_tool:2",
        wrong="shower_curtain shower_head bath_towels"),
    need("recaulk_tub", [
        "qa: how do I redo the seal around my bathtub",
        "knowledge: black mildew along the edge where the tub meets the wall",
    ], wants="silicone_sealant caulk_remover caulk_gun:2 utility_knife:2 painters_tape:2",
        wrong="shower_curtain bath_towels"),
    need("hang_heavy_mirror", [
        "qa: how do I hang a heavy mirror on a plasterboard wall",
        "knowledge: put up a big framed canvas so it never falls down",
    ], wants="wall_anchors picture_hanging_kit stud_finder laser_level:2 cordless_drill:2", wrong="wall_mirror"),
    need("patch_wall_hole", [
        "qa: how do I fix a doorknob hole in the wall",
        "knowledge: repair dents and screw holes before moving out of a rental",
    ], wants="spackle drywall_patch putty_knife sanding_sponge paint_roller_kit:2", wrong="wall_mirror wall_anchors"),
    need("repaint_room", [
        "knowledge: first time repainting a bedroom, what supplies do I need",
        "multi_intent: refresh the living room walls and protect the floor while doing it",
    ], wants="paint_roller_kit painters_tape drop_cloth putty_knife:2 sanding_sponge:2 spackle:2",
        wrong="paint_by_numbers"),
    need("slow_drain", [
        "knowledge: bathroom sink is draining really slowly",
        "qa: how do I unclog a shower without harsh chemicals",
        "alternative: instead of pouring chemicals down the sink, what else clears a blockage",
    ], wants="drain_snake plunger hair_catcher:2", wrong="shower_head shower_curtain"),
    need("running_toilet", [
        "qa: why does my toilet keep running after I flush",
        "knowledge: cistern hisses and refills all night long",
    ], wants="toilet_flapper fill_valve adjustable_wrench:2", wrong="plunger"),
    need("drafty_house", [
        "knowledge: cold air coming in around my windows in winter",
        "qa: how can I cut my heating bill in a drafty old house",
        "knowledge: stop the chilly breeze sneaking in at the bottom of the front door",
    ], wants="weather_stripping door_draft_stopper window_film blackout_curtains:2 silicone_sealant:2",
        wrong="space_heater"),
    need("first_home_safety", [
        "knowledge: safety essentials when moving into a first house",
        "multi_intent: protect my family from fires and be ready for small injuries at home",
    ], wants="smoke_alarm fire_extinguisher first_aid_kit motion_light:2 flashlight:2"),
    need("flat_pack", [
        "knowledge: putting together flat pack furniture from a big box store",
        "qa: what tools do I need to assemble an ikea bed",
    ], wants="hex_key_set screwdriver_set cordless_drill:2 impact_driver:2 claw_hammer:2",
        wrong="furniture_protector sofa_slipcover"),
    need("plastic_wrap_alternative", [
        "alternative: alternative to plastic wrap for leftovers",
        "alternative: reusable option instead of cling film",
        "negation: cover bowls in the fridge without single use plastic",
    ], wants="beeswax_wraps silicone_lids glass_containers silicone_food_bags:2", wrong="plastic_wrap"),
    need("paper_towel_alternative", [
        "alternative: eco friendly replacement for paper towels",
        "alternative: stop buying kitchen roll every week",
    ], wants="swedish_dishcloths microfiber_cloths", wrong="paper_towel_holder"),
    need("sourdough", [
        "knowledge: getting started baking sourdough at home",
        "qa: what equipment do I need for crusty homemade loaves",
    ], wants="banneton dutch_oven kitchen_scale bench_scraper bread_lame:2", wrong="bread_box"),
    need("cast_iron_care", [
        "qa: how do I look after a cast iron pan so it doesn't rust",
        "knowledge: keep my grandmother's old skillet in good shape",
    ], wants="chainmail_scrubber seasoning_oil handle_cover:2", wrong="cast_iron_skillet"),
    need("meal_prep", [
        "knowledge: cook on sunday and portion out meals for the work week",
        "multi_intent: take homemade food to the office and keep it chilled until noon",
    ], wants="glass_containers bento_box lunch_bag kitchen_scale:2"),
    need("coffee_without_machine", [
        "alternative: make good coffee without an electric machine",
        "alternative: replacement for my broken automatic brewer that needs no power",
        "knowledge: gear for brewing like a barista by hand",
    ], wants="french_press pour_over manual_grinder gooseneck_kettle:2", wrong="coffee_maker"),
    need("tiny_kitchen", [
        "knowledge: my kitchen has almost no counter space",
        "qa: how to free up room in a tiny galley kitchen",
    ], wants="over_sink_rack magnetic_knife_strip stackable_shelf", wrong="trash_can"),
    need("nonstick_not_teflon", [
        "negation: non stick frying pan but not teflon",
        "negation: pan without forever chemicals or pfas",
    ], wants="frying_pan cast_iron_skillet carbon_steel_pan", exclude="coating=PTFE Nonstick"),
    need("dull_knives", [
        "knowledge: my kitchen knives won't even cut tomatoes anymore",
        "qa: how do I get an edge back on blunt blades",
    ], wants="whetstone knife_sharpener honing_rod", wrong="chef_knife"),
    need("sofa_cover_not_leather", [
        "negation: sofa cover but not leather",
        "negation: couch protector that isn't leather or vinyl",
    ], wants="sofa_slipcover furniture_protector", exclude="material=Faux Leather|PU Leather"),
    need("hot_sleeper", [
        "knowledge: I wake up sweaty at night, what bedding helps",
        "qa: how do I sleep cooler in summer without air conditioning",
    ], wants="sheet_set mattress_topper tower_fan:2", only="material=Bamboo Viscose|Washed Linen|Cotton Percale"),
    need("studio_storage", [
        "knowledge: no closet in my studio apartment, where do I put clothes",
        "qa: how to store winter clothes in a tiny flat",
    ], wants="clothing_rack under_bed_storage vacuum_storage_bags over_door_hooks:2"),
    need("dorm_room", [
        "multi_intent: college dorm essentials, bedding for a twin xl and somewhere to put stuff",
        "multi_intent: move my daughter into her freshman residence hall, bed and storage",
    ], wants="sheet_set duvet_cover mattress_topper under_bed_storage over_door_hooks:2", only="bed_size=Twin XL"),
    need("day_sleeper", [
        "knowledge: I work night shifts and need to sleep during the day",
        "qa: how can I make my bedroom dark and quiet at noon",
    ], wants="blackout_curtains sleep_mask white_noise_machine earplugs:2"),
    need("dust_allergy", [
        "knowledge: dust allergies keep me sneezing in the bedroom",
        "qa: what helps with pet dander and pollen indoors",
    ], wants="air_purifier pillow_protector microfiber_cloths:2"),
]
